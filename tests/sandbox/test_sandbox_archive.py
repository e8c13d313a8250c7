"""The synthetic archive: realistic, consistent entities and bytes that match them."""

from __future__ import annotations

import hashlib
import itertools
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import blake3
import pytest
from shapely.geometry import box, shape

from phidown_async.sandbox.archive import Archive
from phidown_async.sandbox.settings import SandboxConfig

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
PRODUCT_KEYS = [
    "@odata.mediaContentType",
    "Id",
    "Name",
    "ContentType",
    "ContentLength",
    "OriginDate",
    "PublicationDate",
    "ModificationDate",
    "Online",
    "EvictionDate",
    "S3Path",
    "Checksum",
    "ContentDate",
    "Footprint",
    "GeoFootprint",
    "Attributes",
]
BURST_KEYS = [
    "@odata.mediaContentType",
    "Id",
    "Name",
    "ContentType",
    "S3Path",
    "ContentDate",
    "Footprint",
    "GeoFootprint",
    "ParentProductId",
    "ParentProductName",
    "ByteOffset",
    "BurstId",
    "AbsoluteBurstId",
    "AzimuthTime",
    "AzimuthAnxTime",
    "ParentProductType",
    "SwathIdentifier",
    "RelativeOrbitNumber",
    "OrbitDirection",
    "PlatformSerialIdentifier",
    "PolarisationChannels",
    "OperationalMode",
    "DatatakeID",
    "Lines",
    "LinesPerBurst",
    "SamplesPerBurst",
    "BeginningDateTime",
    "EndingDateTime",
]
VALUE_TYPES = {"String": str, "Integer": int, "Double": float, "Boolean": bool}
S1_NAME = re.compile(
    r"S1A_(IW|EW)_(SLC_|GRDH|GRDM)_1S(DV|SV|DH|SH)_(\d{8}T\d{6})_(\d{8}T\d{6})_"
    r"(\d{6})_([0-9A-F]{6})_[0-9A-F]{4}\.SAFE"
)
S2_NAME = re.compile(
    r"S2[AB]_MSI(L1C|L2A)_(\d{8}T\d{6})_N(\d{4})_R(\d{3})_T(\d{2}[A-Z]{3})_\d{8}T\d{6}\.SAFE"
)
S3_NAME = re.compile(
    r"S3[AB]_(OL_1_EFR___|SL_2_LST___)_(\d{8}T\d{6})_(\d{8}T\d{6})_\d{8}T\d{6}_0179_"
    r"(\d{3})_(\d{3})_\d{4}_PS[12]_O_NT_00[34]\.SEN3"
)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def compact(text: str) -> str:
    return when(text).strftime("%Y%m%dT%H%M%S")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """The default archive (400 products), its zips in a temporary folder."""
    return Archive(SandboxConfig(seed=11, product_size=16 * 1024), tmp_path_factory.mktemp("a"))


@pytest.fixture(scope="module")
def entities(archive: Archive) -> list[dict[str, Any]]:
    return [archive.product(p["Id"]) for p in archive.products]  # type: ignore[misc]


def attrs(entity: dict[str, Any]) -> dict[str, Any]:
    return {a["Name"]: a["Value"] for a in entity["Attributes"]}


def test_same_seed_same_archive_other_seed_other_archive(tmp_path: Path) -> None:
    config = SandboxConfig(seed=4, products=30, product_size=4096)
    first, second = Archive(config, tmp_path / "1"), Archive(config, tmp_path / "2")
    other = Archive(SandboxConfig(seed=5, products=30, product_size=4096), tmp_path / "3")
    assert [p["Name"] for p in first.products] == [p["Name"] for p in second.products]
    assert [b["Id"] for b in first.bursts] == [b["Id"] for b in second.bursts]
    one = first.products[7]["Id"]
    assert first.product(one) == second.product(one)
    assert first.product_zip(one).read_bytes() == second.product_zip(one).read_bytes()
    assert {p["Name"] for p in other.products}.isdisjoint(p["Name"] for p in first.products)


def test_mix_of_missions_types_years_and_continents(entities: list[dict[str, Any]]) -> None:
    assert len(entities) == 400
    types = defaultdict(int)
    for e in entities:
        types[attrs(e)["productType"]] += 1
    assert set(types) == {
        "IW_SLC__1S",
        "IW_GRDH_1S",
        "EW_GRDM_1S",
        "S2MSI1C",
        "S2MSI2A",
        "OL_1_EFR___",
        "SL_2_LST___",
    }
    assert types["IW_SLC__1S"] == 120
    assert {when(e["ContentDate"]["Start"]).year for e in entities} == {2023, 2024, 2025}
    continents = {
        "Europe": box(-10, 35, 30, 60),
        "Africa": box(-20, -35, 52, 33),
        "South America": box(-82, -56, -34, 12),
        "Asia": box(60, 0, 150, 55),
        "North America": box(-130, 14, -60, 60),
        "Australia": box(112, -45, 155, -10),
    }
    footprints = [shape(e["GeoFootprint"]) for e in entities]
    for name, area in continents.items():
        assert any(f.intersects(area) for f in footprints), name


def test_product_entities_have_cdse_fields_in_order(entities: list[dict[str, Any]]) -> None:
    for e in entities:
        assert list(e) == PRODUCT_KEYS
        assert e["@odata.mediaContentType"] == e["ContentType"] == "application/octet-stream"
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", e["Id"]
        )
        for key in ("OriginDate", "PublicationDate", "ModificationDate"):
            assert TIMESTAMP.fullmatch(e[key]), key
        assert e["ContentDate"]["Start"] <= e["ContentDate"]["End"] < e["OriginDate"]
        assert e["OriginDate"] < e["PublicationDate"] < e["ModificationDate"]
        assert e["Online"] is True and e["EvictionDate"] == "9999-12-31T23:59:59.999999Z"
        md5, b3 = e["Checksum"]
        assert (md5["Algorithm"], b3["Algorithm"]) == ("MD5", "BLAKE3")
        assert re.fullmatch(r"[0-9a-f]{32}", md5["Value"])
        assert re.fullmatch(r"[0-9a-f]{64}", b3["Value"])
        assert TIMESTAMP.fullmatch(md5["ChecksumDate"]) and TIMESTAMP.fullmatch(b3["ChecksumDate"])
        # Footprint is the geography literal of exactly the GeoFootprint ring.
        match = re.fullmatch(r"geography'SRID=4326;POLYGON \(\((.*)\)\)'", e["Footprint"])
        assert match
        ring = [[float(v) for v in pair.split(" ")] for pair in match[1].split(", ")]
        assert e["GeoFootprint"] == {"type": "Polygon", "coordinates": [ring]}
        assert ring[0] == ring[-1] and shape(e["GeoFootprint"]).is_valid
        for a in e["Attributes"]:
            assert list(a) == ["@odata.type", "Name", "Value", "ValueType"]
            assert a["@odata.type"] == f"#OData.CSC.{a['ValueType']}Attribute"
            if a["ValueType"] == "DateTimeOffset":
                assert TIMESTAMP.fullmatch(a["Value"])
            else:
                assert type(a["Value"]) is VALUE_TYPES[a["ValueType"]], a


def test_sentinel1_names_attributes_and_paths_agree(entities: list[dict[str, Any]]) -> None:
    s1 = [e for e in entities if e["Name"].startswith("S1")]
    assert s1
    for e in s1:
        a = attrs(e)
        mode, kind, pols, start, stop, orbit, datatake = S1_NAME.fullmatch(e["Name"]).groups()
        assert a["productType"] == {"SLC_": f"{mode}_SLC__1S"}.get(kind, f"{mode}_{kind}_1S")
        assert (a["operationalMode"], a["orbitNumber"]) == (mode, int(orbit))
        assert a["relativeOrbitNumber"] == (a["orbitNumber"] - 73) % 175 + 1
        assert a["datatakeID"] == int(datatake, 16)
        assert (
            a["polarisationChannels"]
            == {
                "DV": "VV&VH",
                "SV": "VV",
                "DH": "HH&HV",
                "SH": "HH",
            }[pols]
        )
        assert (compact(e["ContentDate"]["Start"]), compact(e["ContentDate"]["End"])) == (
            start,
            stop,
        )
        assert a["beginningDateTime"] == e["ContentDate"]["Start"]
        assert a["endingDateTime"] == e["ContentDate"]["End"]
        assert a["orbitDirection"] in ("ASCENDING", "DESCENDING")
        assert isinstance(a["sliceProductFlag"], bool)
        assert a["swathIdentifier"] == ("IW1,IW2,IW3" if kind == "SLC_" else mode)
        # Time from the ascending node matches the acquisition length.
        length = when(e["ContentDate"]["End"]) - when(e["ContentDate"]["Start"])
        span = a["completionTimeFromAscendingNode"] - a["startTimeFromAscendingNode"]
        assert abs(span - length.total_seconds() * 1000) < 2
        # S3 layout: product-type folders from 2023-02-20, SLC/GRD before.
        day = when(e["ContentDate"]["Start"])
        folder = a["productType"] if day.date().isoformat() >= "2023-02-20" else kind[:3]
        assert e["S3Path"] == (f"/eodata/Sentinel-1/SAR/{folder}/{day:%Y/%m/%d}/{e['Name']}")


def test_sentinel2_and_sentinel3_names_and_attributes(entities: list[dict[str, Any]]) -> None:
    for e in entities:
        a = attrs(e)
        if e["Name"].startswith("S2"):
            level, sensing, baseline, rel, tile = S2_NAME.fullmatch(e["Name"]).groups()
            assert a["productType"] == {"L1C": "S2MSI1C", "L2A": "S2MSI2A"}[level]
            assert (a["relativeOrbitNumber"], a["tileId"]) == (int(rel), tile)
            assert a["processorVersion"] == f"{baseline[:2]}.{baseline[2:]}"
            assert e["ContentDate"]["Start"] == e["ContentDate"]["End"]
            assert compact(e["ContentDate"]["Start"]) == sensing
            assert 0.0 <= a["cloudCover"] <= 100.0
            day = f"{sensing[:4]}/{sensing[4:6]}/{sensing[6:8]}"
            assert e["S3Path"] == f"/eodata/Sentinel-2/MSI/{level}/{day}/{e['Name']}"
        elif e["Name"].startswith("S3"):
            product_type, start, _, cycle, rel = S3_NAME.fullmatch(e["Name"]).groups()
            assert a["productType"] == product_type
            assert (a["cycleNumber"], a["relativeOrbitNumber"]) == (int(cycle), int(rel))
            assert compact(e["ContentDate"]["Start"]) == start
            folder = "OLCI/OL_1_EFR" if product_type.startswith("OL") else "SLSTR/SL_2_LST"
            day = f"{start[:4]}/{start[4:6]}/{start[6:8]}"
            assert e["S3Path"] == f"/eodata/Sentinel-3/{folder}/{day}/{e['Name']}"


def test_slc_stacks_repeat_every_12_days_over_the_same_place(archive: Archive) -> None:
    stacks: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for p in archive.product_records:
        if p.attributes["productType"] == "IW_SLC__1S":
            key = (p.attributes["relativeOrbitNumber"], p.attributes["orbitDirection"])
            stacks[key].append(p.entity)
    long = {k: v for k, v in stacks.items() if len(v) >= 4}
    assert {d for _, d in long} == {"ASCENDING", "DESCENDING"}
    repeats = 0
    for stack in long.values():
        stack.sort(key=lambda e: e["ContentDate"]["Start"])
        for a, b in itertools.pairwise(stack):
            gap = when(b["ContentDate"]["Start"]) - when(a["ContentDate"]["Start"])
            if abs(gap - timedelta(days=12)) < timedelta(seconds=1):
                overlap = shape(a["GeoFootprint"]).intersection(shape(b["GeoFootprint"]))
                assert overlap.area > 0.9 * shape(a["GeoFootprint"]).area
                repeats += 1
    assert repeats >= 20
    # The Po Valley is imaged in both directions in summer 2024.
    po = box(10.9, 45.4, 11.1, 45.6)
    directions = {
        p.attributes["orbitDirection"]
        for p in archive.product_records
        if p.attributes["productType"] == "IW_SLC__1S"
        and p.geometry.intersects(po)
        and p.entity["ContentDate"]["Start"].startswith("2024-08")
    }
    assert directions == {"ASCENDING", "DESCENDING"}


def test_bursts_belong_to_their_slc_parents(archive: Archive) -> None:
    bursts = [archive.burst(b["Id"]) for b in archive.bursts]
    assert bursts and all(list(b) == BURST_KEYS for b in bursts)
    by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in bursts:
        by_parent[b["ParentProductId"]].append(b)
    slc = {p.id for p in archive.product_records if p.attributes["productType"] == "IW_SLC__1S"}
    assert set(by_parent) == slc
    for parent_id, children in by_parent.items():
        parent = archive.product(parent_id)
        a = attrs(parent)
        pols = a["polarisationChannels"].split("&")
        per_swath = len(children) // (3 * len(pols))
        assert 3 <= per_swath <= 9 and len(children) == per_swath * 3 * len(pols)
        outline = shape(parent["GeoFootprint"]).buffer(1e-5)
        for b in children:
            assert b["ParentProductName"] == parent["Name"]
            assert b["ParentProductType"] == "IW_SLC__1S" == a["productType"]
            assert b["S3Path"].startswith(parent["S3Path"] + "/measurement/")
            assert b["S3Path"].endswith(".tiff")
            assert (b["RelativeOrbitNumber"], b["OrbitDirection"], b["DatatakeID"]) == (
                a["relativeOrbitNumber"],
                a["orbitDirection"],
                a["datatakeID"],
            )
            assert b["PolarisationChannels"] in pols and b["SwathIdentifier"] in (
                "IW1",
                "IW2",
                "IW3",
            )
            assert outline.contains(shape(b["GeoFootprint"]))
            assert parent["ContentDate"]["Start"] <= b["ContentDate"]["Start"]
            assert b["ContentDate"]["End"] <= parent["ContentDate"]["End"]
            assert b["Name"] == (
                f"S1A-SLC-{compact(b['ContentDate']['Start'])}-{b['BurstId']}-"
                f"{b['SwathIdentifier']}-{b['PolarisationChannels']}-{b['DatatakeID']:06d}"
            )
            assert b["Lines"] == b["LinesPerBurst"] and b["ByteOffset"] > 0
            assert b["BeginningDateTime"] == b["ContentDate"]["Start"]
    # Repeat passes see the same bursts: a burst id recurs on many dates.
    dates_per_id: dict[tuple[int, str], set[str]] = defaultdict(set)
    for b in bursts:
        dates_per_id[(b["BurstId"], b["SwathIdentifier"])].add(b["ContentDate"]["Start"][:10])
    assert max(len(d) for d in dates_per_id.values()) >= 4


def test_burst_s3path_is_a_tiff_of_the_parent_safe(archive: Archive) -> None:
    burst = archive.bursts[0]
    files = dict(archive.product_files(burst["ParentProductId"]))
    parent = archive.product(burst["ParentProductId"])
    relative = burst["S3Path"][len(parent["S3Path"]) + 1 :]
    assert relative in files
    tiff = files[relative]
    data = tiff if isinstance(tiff, bytes) else tiff.read_bytes()
    assert data[:4] == b"II*\x00"


def read_manifest(zf: zipfile.ZipFile, root: str) -> tuple[str, list[tuple[str, int, str, str]]]:
    """``(manifest name, [(href, size, algorithm, checksum), ...])`` of a product zip."""
    name = next(n for n in zf.namelist() if n.endswith(("/manifest.safe", "/xfdumanifest.xml")))
    tree = ET.fromstring(zf.read(name))
    rows = []
    for stream in tree.iter("byteStream"):
        check = stream.find("checksum")
        rows.append(
            (
                stream.find("fileLocation").get("href"),
                int(stream.get("size") or -1),
                check.get("checksumName"),
                check.text or "",
            )
        )
    assert name == f"{root}/{name.rsplit('/', 1)[1]}"
    return name, rows


def test_every_zip_matches_its_catalogue_entry_and_manifest(
    archive: Archive, entities: list[dict[str, Any]]
) -> None:
    for e in entities:
        data = archive.product_zip(e["Id"]).read_bytes()
        assert len(data) == e["ContentLength"]
        assert hashlib.md5(data).hexdigest() == e["Checksum"][0]["Value"]
        assert blake3.blake3(data).hexdigest() == e["Checksum"][1]["Value"]
        with zipfile.ZipFile(archive.product_zip(e["Id"])) as zf:
            assert zf.testzip() is None
            infos = zf.infolist()
            assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
            assert all(i.filename.startswith(e["Name"] + "/") for i in infos)
            manifest, rows = read_manifest(zf, e["Name"])
            listed = {href for href, *_ in rows}
            members = {i.filename[len(e["Name"]) + 1 :] for i in infos}
            for href, size, algorithm, checksum in rows:
                assert href.startswith("./")
                body = zf.read(f"{e['Name']}/{href[2:]}")
                assert len(body) == size
                if e["Name"].startswith("S2"):
                    assert algorithm == "SHA3-256"
                    assert hashlib.sha3_256(body).hexdigest().upper() == checksum
                else:
                    assert algorithm == "MD5" and hashlib.md5(body).hexdigest() == checksum
            # Every data file is listed; only the manifest and schemas/icons are not.
            unlisted = {m for m in members if "./" + m not in listed}
            assert manifest.rsplit("/", 1)[1] in unlisted
            assert all(
                m == manifest.rsplit("/", 1)[1]
                or m.startswith(("support/", "rep_info/", "preview/icons/", "preview/thumb"))
                for m in unlisted
            )


def test_product_files_are_the_zip_members(archive: Archive) -> None:
    for entity in archive.products[:12]:
        files = archive.product_files(entity["Id"])
        with zipfile.ZipFile(archive.product_zip(entity["Id"])) as zf:
            assert [f"{entity['Name']}/{path}" for path, _ in files] == zf.namelist()
            for path, content in files:
                data = content if isinstance(content, bytes) else content.read_bytes()
                assert data == zf.read(f"{entity['Name']}/{path}")


def test_burst_zip_is_an_extract_with_emptied_manifest(archive: Archive) -> None:
    burst = archive.bursts[5]
    name, path = archive.burst_zip(burst["Id"])
    assert name == (
        f"S1A_SLC_{compact(burst['ContentDate']['Start'])}_{burst['BurstId']}_"
        f"{burst['SwathIdentifier']}_{burst['PolarisationChannels']}_{burst['DatatakeID']}.zip"
    )
    stem = name[: -len(".zip")]
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        members = zf.namelist()
        assert all(m.startswith(f"{stem}.SAFE/") for m in members)
        kinds = sorted(m.split("/", 1)[1].split("/")[0] for m in members)
        assert kinds == ["annotation"] * 4 + ["manifest.safe", "measurement"]
        _, rows = read_manifest(zf, f"{stem}.SAFE")
        assert len(rows) == 5 and all(size == -1 and check == "" for _, size, _, check in rows)
        tiff = next(m for m in members if m.endswith(".tiff"))
        assert burst["S3Path"].endswith(tiff.rsplit("/", 1)[1])
        assert len(zf.read(tiff)) > 16 * 1024  # most of burst_size
    assert archive.burst_zip(burst["Id"]) == (name, path)


def test_sizes_override_and_large_members_are_files(tmp_path: Path) -> None:
    base = Archive(SandboxConfig(seed=2, products=10, product_size=8192), tmp_path / "base")
    index = next(i for i, p in enumerate(base.products) if "_IW_GRDH_" in p["Name"])
    name = base.products[index]["Name"]
    big = Archive(
        SandboxConfig(seed=2, products=10, product_size=8192, sizes={name: 3 << 20}),
        tmp_path / "big",
    )
    entity = big.product(big.products[index]["Id"])
    assert entity["Name"] == name
    assert 3 << 20 < entity["ContentLength"] < (3 << 20) + (96 << 10)
    other = big.products[index - 1 if index else index + 1]["Id"]
    assert big.product(other)["ContentLength"] < 64 << 10
    files = big.product_files(entity["Id"])
    assert any(isinstance(content, Path) for _, content in files)
    data = big.product_zip(entity["Id"]).read_bytes()
    assert hashlib.md5(data).hexdigest() == entity["Checksum"][0]["Value"]
    with pytest.raises(ValueError, match="4 GiB"):
        Archive(SandboxConfig(products=2, sizes={"x": 5 << 30}), tmp_path / "huge")


def test_zips_and_checksums_survive_restarts(tmp_path: Path) -> None:
    config = SandboxConfig(seed=8, products=8, product_size=20000)
    first = Archive(config, tmp_path)
    pid = first.products[2]["Id"]
    entity = first.product(pid)
    path = first.product_zip(pid)
    stamp = path.stat().st_mtime_ns
    again = Archive(config, tmp_path)
    assert again.product(pid) == entity
    assert again.product_zip(pid) == path and path.stat().st_mtime_ns == stamp  # reused
    # A zip cut short (a crash mid-write) is rebuilt, byte for byte.
    path.write_bytes(path.read_bytes()[:1000])
    rebuilt = Archive(config, tmp_path).product_zip(pid).read_bytes()
    assert hashlib.md5(rebuilt).hexdigest() == entity["Checksum"][0]["Value"]
    # Another payload size in the same folder is another archive: nothing stale is reused.
    bigger = Archive(SandboxConfig(seed=8, products=8, product_size=40000), tmp_path)
    assert bigger.product(pid)["ContentLength"] > entity["ContentLength"]
    assert len(bigger.product_zip(pid).read_bytes()) == bigger.product(pid)["ContentLength"]


def test_unknown_ids() -> None:
    archive = Archive(SandboxConfig(products=3), Path("/nonexistent-never-written"))
    assert archive.product("nope") is None and archive.burst("nope") is None
    with pytest.raises(KeyError):
        archive.product_zip("nope")
    with pytest.raises(KeyError):
        archive.burst_zip("nope")
    with pytest.raises(KeyError):
        archive.product_files("nope")


def test_bulk_products_and_bursts_fill_one_month_over_one_region(tmp_path: Path) -> None:
    archive = Archive(
        SandboxConfig(seed=1, products=0, bulk_products=3000, bulk_bursts=1000), tmp_path
    )
    grd = [p for p in archive.product_records if p.attributes["productType"] == "IW_GRDH_1S"]
    assert len(grd) == 3000 and len(archive.bursts) == 1000
    region = box(4.3, 50.7, 4.5, 50.9)
    for record in archive.product_records:
        assert record.entity["ContentDate"]["Start"].startswith("2024-03")
        assert record.geometry.intersects(region)
    assert len({p["Name"] for p in archive.products}) == len(archive.products)
    parents = {b["ParentProductId"] for b in archive.bursts}
    assert parents == {
        p.id for p in archive.product_records if p.attributes["productType"] == "IW_SLC__1S"
    }
    bulk = archive.product(grd[0].id)
    data = archive.product_zip(grd[0].id).read_bytes()
    assert len(data) == bulk["ContentLength"] < 64 << 10  # tiny payloads
