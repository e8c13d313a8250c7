"""Checksums, manifests, zip verification, safe extraction and safe names."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from blake3 import blake3

from phidown_async.download.verify import (
    BadFile,
    ManifestEntry,
    StreamHasher,
    compare_checksums,
    expected_checksums,
    hash_file,
    hash_file_async,
    looks_like_error_page,
    parse_content_disposition,
    parse_manifest,
    safe_extract,
    safe_extract_async,
    safe_filename,
    stream_algorithms,
    verify_safe_dir,
    verify_safe_dir_async,
    verify_zip,
    verify_zip_async,
)
from phidown_async.errors import VerificationError

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"
ROOT = "S1A_IW_GRDH_1SDV_20241217T061735_20241217T061800_057028_07020F_TEST.SAFE"
MEASUREMENT = "measurement/s1a-iw-grd-vv-001.tiff"
ANNOTATION = "annotation/s1a-iw-grd-vv-001.xml"


def _payloads() -> dict[str, bytes]:
    return {
        MEASUREMENT: b"MEASUREMENT-BLOCK-" * 4000,
        ANNOTATION: b"<product><adsHeader>annotation</adsHeader></product>\n" * 50,
        "preview/quick-look.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
    }


def _manifest(entries: list[tuple[str, str, str]], algorithm: str = "MD5") -> bytes:
    """A SAFE manifest listing (href, size, checksum) entries."""
    objects = "\n".join(
        f"""    <dataObject ID="obj{i}" repID="s1Level1ProductSchema">
      <byteStream mimeType="application/octet-stream" size="{size}">
        <fileLocation locatorType="URL" href="{href}"/>
        <checksum checksumName="{algorithm}">{checksum}</checksum>
      </byteStream>
    </dataObject>"""
        for i, (href, size, checksum) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel-1.0">\n'
        "  <informationPackageMap/>\n  <metadataSection/>\n"
        f"  <dataObjectSection>\n{objects}\n  </dataObjectSection>\n</xfdu:XFDU>\n"
    ).encode()


def _digest(data: bytes, algorithm: str, upper: bool) -> str:
    value = hashlib.sha3_256(data) if algorithm == "SHA3-256" else hashlib.md5(data)
    return value.hexdigest().upper() if upper else value.hexdigest()


def _build_zip(
    path: Path,
    files: dict[str, bytes] | None = None,
    *,
    listed: dict[str, tuple[int, str]] | None = None,
    algorithm: str = "MD5",
    upper: bool = False,
    extra: dict[str, bytes] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
    root: str = ROOT,
) -> Path:
    """A SAFE product zip; ``listed`` overrides (size, checksum) written in the manifest."""
    files = _payloads() if files is None else files
    entries = []
    for rel, data in files.items():
        size, checksum = len(data), _digest(data, algorithm, upper)
        if listed and rel in listed:
            size, checksum = listed[rel]
        entries.append((f"./{rel}", str(size), checksum))
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(f"{root}/manifest.safe", _manifest(entries, algorithm))
        for rel, data in files.items():
            archive.writestr(f"{root}/{rel}", data)
        archive.writestr(f"{root}/support/s1-level-1-product.xsd", b"<xsd:schema/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


# ---------------------------------------------------------------- manifests (real fixtures)


def test_s1_manifest_fixture_lists_13_md5_files():
    entries = parse_manifest((FIXTURES / "s1-manifest.safe").read_bytes())
    assert len(entries) == 13
    first = entries[0]
    assert first == ManifestEntry(
        href="./annotation/s1a-iw-grd-vh-20241217t061735-20241217t061800-057028-07020f-002.xml",
        size=1888864,
        algorithm="MD5",
        checksum="5b30ed5fdd5c443779924148cc0ab233",
    )
    assert first.path.startswith("annotation/s1a-iw-grd-vh-")
    assert {e.algorithm for e in entries} == {"MD5"}
    assert all(e.size and e.checksum for e in entries)


def test_s2_manifest_fixture_lists_59_sha3_files():
    entries = parse_manifest((FIXTURES / "s2-manifest.safe").read_bytes())
    assert len(entries) == 59
    assert entries[0].href == "./MTD_MSIL1C.xml"
    assert entries[0].size == 45353
    assert entries[0].algorithm == "SHA3-256"
    assert entries[0].checksum == (
        "91CB5B925086749536F310AC7F5E0F2F892CE36FBAA85D6DF2E696EAA64B8400"
    )
    assert entries[2].path == "HTML/UserProduct_index.html"


def test_s3_xfdumanifest_fixture_lists_32_files():
    entries = parse_manifest((FIXTURES / "s3-xfdumanifest.xml").read_bytes())
    assert len(entries) == 32
    assert entries[0] == ManifestEntry(
        "./Oa01_reflectance.nc", 5693987, "MD5", "5d0a0d3ee5a73998e382ea78685706ef"
    )


def test_broken_manifest_fixture_is_a_verification_error_naming_the_file():
    data = (FIXTURES / "s2-broken_manifest.safe").read_bytes()
    with pytest.raises(VerificationError, match=r"s2-broken_manifest\.safe") as info:
        parse_manifest(data, source="s2-broken_manifest.safe")
    assert "S2_Level-1C_Product_Metadata" in str(info.value)


def test_truncated_manifest_is_a_verification_error():
    data = (FIXTURES / "s1-manifest.safe").read_bytes()[:5000]
    with pytest.raises(VerificationError, match="not well-formed"):
        parse_manifest(data)


def test_manifest_with_entity_declarations_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(VerificationError, match="DTD"):
        parse_manifest(bomb)


def test_manifest_href_escaping_the_product_is_refused():
    with pytest.raises(VerificationError, match="not inside the product"):
        parse_manifest(_manifest([("./../../etc/passwd", "10", "ab")]))


def test_burst_manifest_with_empty_size_and_checksum_keeps_entries():
    entries = parse_manifest(_manifest([("./measurement/burst.tiff", "", "")]))
    assert entries == [ManifestEntry("./measurement/burst.tiff", None, "MD5", None)]


# ---------------------------------------------------------------- checksums


def test_stream_hasher_primed_from_partial_file_equals_one_shot(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 123)
    cut = 1_300_001
    partial = tmp_path / "product.zip.part"
    partial.write_bytes(data[:cut])
    hasher = StreamHasher(["md5", "BLAKE3", "sha3_256"])
    assert hasher.prime(partial, chunk_size=64 * 1024) == cut
    for start in range(cut, len(data), 500_000):
        hasher.update(data[start : start + 500_000])
    assert hasher.bytes_hashed == len(data)
    assert hasher.hexdigests() == {
        "MD5": hashlib.md5(data).hexdigest(),
        "BLAKE3": blake3(data).hexdigest(),
        "SHA3-256": hashlib.sha3_256(data).hexdigest(),
    }


async def test_async_prime_and_hash_file_agree(tmp_path):
    data = os.urandom(200_000)
    target = tmp_path / "f.bin"
    target.write_bytes(data)
    hasher = StreamHasher(["MD5"])
    assert await hasher.prime_async(target, limit=1000) == 1000
    hasher.update(data[1000:])
    assert hasher.hexdigests() == await hash_file_async(target, ["MD5"])
    assert hash_file(target, ["MD5"])["MD5"] == hashlib.md5(data).hexdigest()


def test_stream_hasher_rejects_unknown_algorithm():
    with pytest.raises(ValueError, match="CRC99"):
        StreamHasher(["CRC99"])


def test_expected_checksums_from_catalogue_entry():
    checksum = [
        {
            "Value": "0DBCBDB1A7B8D1D1D9B7FA6E7E6B7E0F",
            "Algorithm": "MD5",
            "ChecksumDate": "2024-08-02T08:49:14.548000Z",
        },
        {
            "Value": "b9a3f4c0" * 8,
            "Algorithm": "BLAKE3",
            "ChecksumDate": "2024-08-02T08:49:15.022000Z",
        },
        {"Value": "", "Algorithm": "SHA256"},
        {"Value": "zz", "Algorithm": "WHIRLPOOL"},
    ]
    assert expected_checksums(checksum) == {
        "MD5": "0dbcbdb1a7b8d1d1d9b7fa6e7e6b7e0f",
        "BLAKE3": "b9a3f4c0" * 8,
    }
    assert expected_checksums([]) == {}
    assert expected_checksums(float("nan")) == {}


def test_compare_checksums_names_file_and_values():
    compare_checksums({"md5": "ABC"}, {"MD5": "abc"}, name="p.zip")
    with pytest.raises(VerificationError, match=r"p.zip: MD5 .*expected abc, got def"):
        compare_checksums({"MD5": "abc"}, {"MD5": "def"}, name="p.zip")


def test_error_pages_are_detected():
    assert looks_like_error_page(b"", "application/zip")
    assert looks_like_error_page(b"<!DOCTYPE html><html><body>Maintenance", "text/html")
    assert looks_like_error_page(b'{"detail":"Expired signature!"}', "application/json")
    assert looks_like_error_page(b'{"code":"DAT-ZIP-100"}', "application/octet-stream")
    assert not looks_like_error_page(b"PK\x03\x04\x14\x00\x00\x00", "application/zip")
    assert not looks_like_error_page(b"PK\x05\x06" + bytes(18), None)
    # A single non-zip file (an orbit .EOF) is fine when a zip is not expected.
    eof = b'<?xml version="1.0"?>\n<Earth_Explorer_File>'
    assert looks_like_error_page(eof, "application/xml")
    assert not looks_like_error_page(eof, "application/xml", expect_zip=False)
    assert looks_like_error_page(b"\n<html>", None, expect_zip=False)


# ---------------------------------------------------------------- verify_zip


def test_good_zip_verifies(tmp_path):
    path = _build_zip(tmp_path / f"{ROOT}.zip")
    result = verify_zip(path, expected_size=path.stat().st_size)
    assert result.root == ROOT
    assert result.manifest == f"{ROOT}/manifest.safe"
    assert len(result.manifest_entries) == 3
    assert f"{ROOT}/{MEASUREMENT}" in result.files
    assert len(result.files) == 5


def test_s2_style_upper_case_sha3_manifest_verifies(tmp_path):
    path = _build_zip(
        tmp_path / "s2.zip", algorithm="SHA3-256", upper=True, root="S2B_MSIL1C_TEST.SAFE"
    )
    result = verify_zip(path)
    assert {e.algorithm for e in result.manifest_entries} == {"SHA3-256"}
    assert result.manifest_entries[0].checksum.isupper()


def test_flipped_byte_in_a_member_fails_naming_it(tmp_path):
    path = _build_zip(tmp_path / "p.zip", compression=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    offset = raw.index(b"MEASUREMENT-BLOCK-" * 10) + 5000
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(VerificationError) as info:
        verify_zip(path)
    assert f"{ROOT}/{MEASUREMENT}" in str(info.value)
    assert ANNOTATION not in str(info.value)


def test_checksum_mismatch_against_manifest_names_member_and_values(tmp_path):
    data = _payloads()[ANNOTATION]
    wrong = "0" * 32
    path = _build_zip(tmp_path / "p.zip", listed={ANNOTATION: (len(data), wrong)})
    with pytest.raises(VerificationError) as info:
        verify_zip(path)
    message = str(info.value)
    assert f"{ROOT}/{ANNOTATION}" in message
    assert wrong in message
    assert hashlib.md5(data).hexdigest() in message


def test_missing_listed_file_fails_naming_it(tmp_path):
    files = _payloads()
    path = tmp_path / "p.zip"
    entries = [(f"./{rel}", str(len(d)), hashlib.md5(d).hexdigest()) for rel, d in files.items()]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{ROOT}/manifest.safe", _manifest(entries))
        for rel, data in files.items():
            if rel != MEASUREMENT:
                archive.writestr(f"{ROOT}/{rel}", data)
    with pytest.raises(VerificationError, match="missing from the zip") as info:
        verify_zip(path)
    assert f"{ROOT}/{MEASUREMENT}" in str(info.value)


def test_size_mismatch_against_manifest(tmp_path):
    data = _payloads()[MEASUREMENT]
    path = _build_zip(
        tmp_path / "p.zip", listed={MEASUREMENT: (len(data) + 1, hashlib.md5(data).hexdigest())}
    )
    with pytest.raises(VerificationError, match=f"{len(data) + 1} bytes, got {len(data)}"):
        verify_zip(path)


def test_file_size_and_checksum_of_whole_zip(tmp_path):
    path = _build_zip(tmp_path / "p.zip")
    size = path.stat().st_size
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    with pytest.raises(VerificationError, match=f"expected {size + 10} bytes, got {size}"):
        verify_zip(path, expected_size=size + 10)
    verify_zip(path, checksums={"MD5": md5})  # computed by reading the file
    verify_zip(path, checksums={"MD5": md5}, computed={"MD5": md5})
    with pytest.raises(VerificationError, match="MD5 checksum mismatch"):
        verify_zip(path, checksums={"MD5": md5}, computed={"MD5": "f" * 32})


def test_blake3_alone_checks_a_file_the_catalogue_gives_md5_and_blake3_for(tmp_path):
    path = _build_zip(tmp_path / "p.zip")
    raw = path.read_bytes()
    md5, b3 = hashlib.md5(raw).hexdigest(), blake3(raw).hexdigest()
    assert stream_algorithms(["MD5", "BLAKE3"]) == ("BLAKE3",)
    assert stream_algorithms(["md5"]) == ("MD5",)
    assert stream_algorithms([]) == ("MD5",)
    verify_zip(path, checksums={"MD5": md5, "BLAKE3": b3})
    # The file is read for BLAKE3 only: a wrong BLAKE3 is caught even beside a good MD5 ...
    with pytest.raises(VerificationError, match="BLAKE3 checksum mismatch"):
        verify_zip(path, checksums={"MD5": md5, "BLAKE3": "0" * 64})
    # ... and a BLAKE3 computed while streaming is not computed again.
    verify_zip(path, checksums={"MD5": md5, "BLAKE3": b3}, computed={"BLAKE3": b3})
    with pytest.raises(VerificationError, match="BLAKE3 checksum mismatch"):
        verify_zip(path, checksums={"MD5": md5, "BLAKE3": b3}, computed={"BLAKE3": "1" * 64})


def _corrupt_crc(path: Path, member: str) -> None:
    """Change the CRC recorded for ``member`` (local header and central directory)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    bad = struct.pack("<I", info.CRC ^ 0xFFFFFFFF)
    good = struct.pack("<I", info.CRC)
    local = info.header_offset + 14
    assert raw[local : local + 4] == good
    raw[local : local + 4] = bad
    central = raw.index(b"PK\x01\x02")
    while True:
        name_len = struct.unpack("<H", raw[central + 28 : central + 30])[0]
        if raw[central + 46 : central + 46 + name_len] == member.encode():
            break
        central = raw.index(b"PK\x01\x02", central + 4)
    raw[central + 16 : central + 20] = bad
    path.write_bytes(bytes(raw))


def test_bad_crc_in_unlisted_member_fails_naming_it(tmp_path):
    path = _build_zip(tmp_path / "p.zip")
    member = f"{ROOT}/support/s1-level-1-product.xsd"
    _corrupt_crc(path, member)
    with pytest.raises(VerificationError, match="corrupt member") as info:
        verify_zip(path)
    assert member in str(info.value)


def test_html_error_page_saved_as_zip_fails(tmp_path):
    path = tmp_path / "p.zip"
    path.write_bytes(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
    with pytest.raises(VerificationError, match="not a valid zip"):
        verify_zip(path)


def test_zip_without_manifest_passes_on_crc(tmp_path):
    path = tmp_path / "orbit.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("S1A_OPER_AUX_POEORB_V2024.EOF", b"<Earth_Explorer_File/>")
    result = verify_zip(path)
    assert result.root is None
    assert result.manifest_entries == ()
    assert result.files == ("S1A_OPER_AUX_POEORB_V2024.EOF",)


def test_safe_folder_without_manifest_fails(tmp_path):
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{ROOT}/measurement/a.tiff", b"data")
    with pytest.raises(VerificationError, match=r"no manifest\.safe"):
        verify_zip(path)


def test_burst_zip_with_emptied_manifest_checksums_verifies(tmp_path):
    path = tmp_path / "burst.zip"
    root = "S1A_SLC_20200724T034349_200631_IW1_VV_255133.SAFE"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{root}/manifest.safe", _manifest([("./measurement/b.tiff", "", "")]))
        archive.writestr(f"{root}/measurement/b.tiff", b"burst")
    assert verify_zip(path).root == root


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil", "parent-directory"),
        (f"{ROOT}/../../evil", "parent-directory"),
        ("/etc/cron.d/evil", "absolute path"),
    ],
)
def test_escaping_member_is_refused_by_verify_and_extract(tmp_path, member, reason):
    path = _build_zip(tmp_path / "p.zip", extra={member: b"owned"})
    with pytest.raises(VerificationError, match=reason):
        verify_zip(path)
    out = tmp_path / "out"
    with pytest.raises(VerificationError, match=reason):
        safe_extract(path, out)
    assert not (tmp_path / "evil").exists()
    assert list(out.iterdir()) == []


def test_symlink_member_is_refused(tmp_path):
    path = _build_zip(tmp_path / "p.zip")
    link = zipfile.ZipInfo(f"{ROOT}/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(VerificationError, match="symbolic link"):
        safe_extract(path, tmp_path / "out")
    with pytest.raises(VerificationError, match="symbolic link"):
        verify_zip(path)


async def test_async_verify_wrapper(tmp_path):
    path = _build_zip(tmp_path / "p.zip")
    result = await verify_zip_async(path, expected_size=path.stat().st_size)
    assert result.root == ROOT


# ---------------------------------------------------------------- extraction and SAFE folders


def test_safe_extract_then_verify_safe_dir(tmp_path):
    path = _build_zip(tmp_path / f"{ROOT}.zip")
    out = tmp_path / "out"
    safe = safe_extract(path, out)
    assert safe == out / ROOT
    assert (safe / MEASUREMENT).read_bytes() == _payloads()[MEASUREMENT]
    assert sorted(p.name for p in out.iterdir()) == [ROOT]  # no temp folder left
    assert verify_safe_dir(safe) == []

    (safe / ANNOTATION).write_bytes(b"tampered")
    (safe / MEASUREMENT).unlink()
    bad = verify_safe_dir(safe)
    assert {b.path for b in bad} == {ANNOTATION, MEASUREMENT}
    assert BadFile(MEASUREMENT, "missing") in bad
    assert any("size mismatch" in str(b) for b in bad if b.path == ANNOTATION)


def test_verify_safe_dir_reports_checksum_mismatch_with_equal_size(tmp_path):
    safe = safe_extract(_build_zip(tmp_path / "p.zip"), tmp_path / "out")
    original = (safe / ANNOTATION).read_bytes()
    (safe / ANNOTATION).write_bytes(original.upper())
    (bad,) = verify_safe_dir(safe)
    assert bad.path == ANNOTATION
    assert "MD5 checksum mismatch" in bad.reason


def test_verify_safe_dir_without_manifest_raises(tmp_path):
    with pytest.raises(VerificationError, match=r"no manifest\.safe"):
        verify_safe_dir(tmp_path)


def test_safe_extract_replaces_an_older_copy(tmp_path):
    out = tmp_path / "out"
    stale = out / ROOT / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    safe = safe_extract(_build_zip(tmp_path / "p.zip"), out)
    assert not stale.exists()
    assert (safe / "manifest.safe").is_file()


def test_safe_extract_of_corrupt_zip_leaves_nothing(tmp_path):
    path = _build_zip(tmp_path / "p.zip")
    _corrupt_crc(path, f"{ROOT}/{ANNOTATION}")
    out = tmp_path / "out"
    with pytest.raises(VerificationError, match=ANNOTATION):
        safe_extract(path, out)
    assert list(out.iterdir()) == []


async def test_safe_extract_flat_zip_uses_zip_stem(tmp_path):
    path = tmp_path / "S3A_OL_2_WFR_TEST.SEN3.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "xfdumanifest.xml",
            _manifest([("./Oa01_reflectance.nc", "3", hashlib.md5(b"abc").hexdigest())]),
        )
        archive.writestr("Oa01_reflectance.nc", b"abc")
    safe = await safe_extract_async(path, tmp_path / "out")
    assert safe == tmp_path / "out" / "S3A_OL_2_WFR_TEST.SEN3"
    assert await verify_safe_dir_async(safe) == []
    assert verify_zip(path).root == ""


# ---------------------------------------------------------------- server-sent names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "S1A_SLC_20200724T034349_200631_IW1_VV_255133.zip",
            "S1A_SLC_20200724T034349_200631_IW1_VV_255133.zip",
        ),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.zip", "evil.zip"),
        ("..", "fallback.zip"),
        ("", "fallback.zip"),
        (None, "fallback.zip"),
        ("a\x00b\r\nc.zip", "abc.zip"),
        (".hidden", "hidden"),
        ('we:ird|"name?.zip', "we_ird__name_.zip"),
        ("/", "fallback.zip"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name, "fallback.zip") == expected


def test_safe_filename_limits_length_and_keeps_suffix():
    name = safe_filename("x" * 400 + ".zip", "f")
    assert len(name.encode()) == 255
    assert name.endswith(".zip")


def test_safe_filename_needs_a_usable_fallback():
    with pytest.raises(ValueError, match="fallback"):
        safe_filename("..", "..")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("attachment; filename=S1A_SLC_IW1_VV_255133.zip", "S1A_SLC_IW1_VV_255133.zip"),
        ('attachment; filename="S1A_IW_SLC.SAFE.zip"', "S1A_IW_SLC.SAFE.zip"),
        ('attachment; filename="a \\"quoted\\" name.zip"', 'a "quoted" name.zip'),
        ("attachment; filename*=UTF-8''na%C3%AFve%20file.zip", "naïve file.zip"),
        ("attachment; filename=\"plain.zip\"; filename*=UTF-8''fancy%E2%82%AC.zip", "fancy€.zip"),
        ("attachment; FILENAME=upper.zip", "upper.zip"),
        ('attachment; filename="semi;colon.zip"', "semi;colon.zip"),
        ("attachment; filename*=bogus; filename=fallback.zip", "fallback.zip"),
        ("attachment", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_content_disposition(header, expected):
    assert parse_content_disposition(header) == expected


def test_content_disposition_traversal_is_neutralised_by_safe_filename():
    name = parse_content_disposition('attachment; filename="../../.bashrc"')
    assert name == "../../.bashrc"
    assert safe_filename(name, "product.zip") == "bashrc"
