"""Hostile archives, planted links and odd names, through a stdlib CDSE on loopback."""

from __future__ import annotations

import hashlib
import io
import os
import random
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from hostile_cdse import HostileCdse
from product_zips import build_zip

from phidown_async.config import Limits
from phidown_async.download import HttpTransfer, download_products, plan_jobs, run_pool
from phidown_async.download.run import LEDGER_NAME
from phidown_async.events import ChecksumIgnored, EventLog
from phidown_async.ledger import Ledger
from phidown_async.retry import RetryPolicy
from phidown_async.session import Session

pytestmark = pytest.mark.timeout(60)

RETRY = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.02, jitter=0.0)
LIMITS = Limits(connections=2, workers=2, chunk_size=4096, timeout=10.0)
NAME = "S1A_IW_GRDH_1SDV_20240101T000000_20240101T000025_051000_062000_ABCD.SAFE"
OTHER = "S1A_IW_GRDH_1SDV_20240102T000000_20240102T000025_051001_062001_BCDE.SAFE"


def product(dl, product_id: str, name: str, root: str | None = None, *, checksum=None):
    """(entity, zip bytes) of a product whose zip holds the folder ``root`` (its name)."""
    data = dl.safe_zip(root or name, random.Random(product_id).randbytes(5_000))
    entity = dl.entity(product_id, name, data)
    if checksum is not None:
        entity["Checksum"] = checksum
    return entity, data


async def download(cdse: HostileCdse, entities: list[dict], out: Path, **options):
    return await download_products(
        entities,
        out,
        endpoints=cdse.endpoints,
        credentials=cdse.credentials,
        limits=LIMITS,
        retry=RETRY,
        **options,
    )


def by_id(summary) -> dict:
    return {result.id: result for result in summary.results}


# -- 1. extraction never replaces what it did not create ----------------------------------


@pytest.mark.parametrize(
    "hostile_root",
    [LEDGER_NAME, f"{NAME}.zip", f"{OTHER}.zip", f"{OTHER}.zip.part", "notes"],
)
async def test_extraction_never_replaces_what_it_did_not_create(dl, tmp_path, hostile_root):
    hostile, hostile_zip = product(dl, "id-hostile", NAME, hostile_root)
    good, _ = product(dl, "id-good", OTHER)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("the user's own file")
    with HostileCdse({"id-hostile": hostile_zip, "id-good": _}) as cdse:
        first = by_id(await download(cdse, [hostile, good], tmp_path, extract=True))
        second = by_id(await download(cdse, [hostile, good], tmp_path, extract=True))

    for results in (first, second):
        assert results["id-hostile"].status == "failed"
        assert "extraction refused" in results["id-hostile"].reason
        assert results["id-good"].status != "failed"
    # The verified zip is kept, the ledger is still a ledger, the user's file is untouched.
    assert (tmp_path / f"{NAME}.zip").read_bytes() == hostile_zip
    assert (tmp_path / LEDGER_NAME).is_file()
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        assert ledger.get("id-hostile").state == "failed"
        assert ledger.get("id-good").state == "done"
    assert (notes / "mine.txt").read_text() == "the user's own file"
    assert (tmp_path / OTHER / "manifest.safe").is_file()
    assert (tmp_path / f"{OTHER}.zip").is_file()
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


async def test_a_folder_holding_the_zips_files_and_more_is_not_taken_for_an_extraction(
    dl, tmp_path
):
    # The user's folder has every file of the zip, with its size, and work of their own.
    hostile, hostile_zip = product(dl, "id-hostile", NAME, "notes")
    with zipfile.ZipFile(io.BytesIO(hostile_zip)) as archive:
        for info in archive.infolist():
            mine = tmp_path / info.filename
            mine.parent.mkdir(parents=True, exist_ok=True)
            mine.write_bytes(b"u" * info.file_size)
    (tmp_path / "notes" / "thesis.tex").write_text("months of work")
    with HostileCdse({"id-hostile": hostile_zip}) as cdse:
        [result] = (await download(cdse, [hostile], tmp_path, extract=True)).results

    assert result.status == "failed"
    assert "extraction refused" in (result.reason or "")
    assert (tmp_path / "notes" / "thesis.tex").read_text() == "months of work"


async def test_one_product_never_replaces_another_products_extraction(dl, tmp_path):
    first, first_zip = product(dl, "id-first", NAME)
    # The second product's zip holds a folder named like the first, same files, other bytes.
    second, second_zip = product(dl, "id-second", OTHER, NAME)
    with HostileCdse({"id-first": first_zip, "id-second": second_zip}) as cdse:
        [done] = (await download(cdse, [first], tmp_path, extract=True)).results
        extracted = (tmp_path / NAME / "measurement" / "data.tiff").read_bytes()
        [refused] = (await download(cdse, [second], tmp_path, extract=True)).results

    assert done.status == "downloaded"
    assert refused.status == "failed"
    assert "extraction refused" in (refused.reason or "")
    assert (tmp_path / NAME / "measurement" / "data.tiff").read_bytes() == extracted


async def test_a_rerun_replaces_an_earlier_extraction_of_the_same_product(dl, tmp_path):
    entity, data = product(dl, "id-1", NAME)
    stale = tmp_path / NAME / "measurement"
    stale.mkdir(parents=True)
    (stale / "left-over.tiff").write_bytes(b"from an older copy")
    with HostileCdse({"id-1": data}) as cdse:
        [result] = (await download(cdse, [entity], tmp_path, extract=True)).results

    assert result.status == "downloaded"
    assert (tmp_path / NAME / "manifest.safe").is_file()
    assert not (stale / "left-over.tiff").exists()


# -- 2. links planted at the part or the final name are never followed -------------------


async def test_a_part_linked_outside_the_folder_is_replaced_not_written_through(dl, tmp_path):
    entity, data = product(dl, "id-1", NAME)
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    victim = outside / "victim.bin"
    victim.write_bytes(b"precious bytes")
    (out / f"{NAME}.zip.part").symlink_to(victim)
    with HostileCdse({"id-1": data}) as cdse:
        [result] = (await download(cdse, [entity], out)).results

    assert result.status == "downloaded"
    assert victim.read_bytes() == b"precious bytes"
    target = out / f"{NAME}.zip"
    assert not target.is_symlink() and target.read_bytes() == data


@pytest.mark.parametrize("earlier_run", [False, True])
async def test_a_final_name_linked_outside_is_not_taken_as_verified(dl, tmp_path, earlier_run):
    entity, data = product(dl, "id-1", NAME)
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    elsewhere = outside / "product.zip"
    elsewhere.write_bytes(data)  # a valid copy: following the link would verify
    target = out / f"{NAME}.zip"
    with HostileCdse({"id-1": data}) as cdse:
        if earlier_run:  # the ledger has it done; then the file is swapped for a link
            await download(cdse, [entity], out)
            target.unlink()
        target.symlink_to(elsewhere)
        [result] = (await download(cdse, [entity], out)).results
        fetched = cdse.fetched["id-1"]

    assert result.status == "downloaded"
    assert fetched == 1 + earlier_run
    assert not target.is_symlink() and target.read_bytes() == data
    assert elsewhere.read_bytes() == data


# -- 3. --extract on a rerun ---------------------------------------------------------------


async def test_a_rerun_with_extract_unpacks_what_an_earlier_run_only_downloaded(dl, tmp_path):
    entity, data = product(dl, "id-1", NAME)
    with HostileCdse({"id-1": data}) as cdse:
        first = (await download(cdse, [entity], tmp_path)).results[0]
        assert first.status == "downloaded" and not (tmp_path / NAME).exists()
        second = (await download(cdse, [entity], tmp_path, extract=True)).results[0]
        third = (await download(cdse, [entity], tmp_path, extract=True)).results[0]
        fetched = cdse.fetched["id-1"]

    assert second.status != "failed" and second.path == tmp_path / f"{NAME}.zip"
    assert (tmp_path / NAME / "manifest.safe").is_file()
    assert third.status == "skipped" and third.reason == "already downloaded"
    assert fetched == 1


async def test_a_failed_extraction_is_a_failure_and_is_done_on_the_next_run(dl, tmp_path):
    entity, data = product(dl, "id-1", NAME)
    (tmp_path / NAME).write_text("a file of the user's where the folder would go")
    with HostileCdse({"id-1": data}) as cdse:
        first = (await download(cdse, [entity], tmp_path, extract=True)).results[0]
        (tmp_path / NAME).unlink()
        second = (await download(cdse, [entity], tmp_path, extract=True)).results[0]
        fetched = cdse.fetched["id-1"]

    assert first.status == "failed" and "extraction refused" in first.reason
    assert second.status != "failed"
    assert (tmp_path / NAME / "manifest.safe").is_file()
    assert fetched == 1
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        assert ledger.get("id-1").state == "done"


# -- 10. very long names ------------------------------------------------------------------


async def test_very_long_names_are_shortened_uniquely_and_recorded(dl, tmp_path):
    long_a = "S1A_" + "A" * 242 + ".SAFE"  # 251 characters
    long_b = "S1A_" + "B" * 991 + ".SAFE"  # 1,000 characters
    long_c = "S1A_" + "B" * 991 + "C.SAFE"  # the same 255-byte prefix as long_b
    items = [
        product(dl, "id-a", long_a, "A.SAFE"),
        product(dl, "id-b", long_b, "B.SAFE"),
        product(dl, "id-c", long_c, "C.SAFE"),
        product(dl, "id-n", NAME),
    ]
    with HostileCdse({e["Id"]: data for e, data in items}) as cdse:
        summary = await download(cdse, [e for e, _ in items], tmp_path)

    results = by_id(summary)
    assert all(r.status == "downloaded" for r in results.values()), summary.failures
    paths = {r.path for r in results.values()}
    assert len(paths) == 4
    for path in paths:
        # The longest name the engine derives from it, the sidecar's temporary, fits too.
        assert len(path.name.encode()) + len(".part.json.12345678.tmp") <= 255
        assert path.name.endswith(".SAFE.zip") and path.is_file()
    assert results["id-n"].path.name == f"{NAME}.zip"
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        for item_id, result in results.items():
            row = ledger.get(item_id)
            assert row.state == "done" and Path(row.path) == result.path
            assert row.name == result.name


async def test_an_os_error_on_one_item_fails_that_item_not_the_run(dl, tmp_path):
    (good, data), (doomed, _) = product(dl, "id-good", NAME), product(dl, "id-doomed", OTHER)
    with HostileCdse({"id-good": data, "id-doomed": data}) as cdse:
        good_job, doomed_job = plan_jobs(
            [good, doomed], tmp_path, catalogue_url=cdse.endpoints.catalogue_url
        )
        # Planned by hand with a name no file system takes.
        too_long = tmp_path / ("x" * 300 + ".zip")
        doomed_job = replace(doomed_job, target=too_long, part=Path(f"{too_long}.part"))
        async with Session(cdse.endpoints, cdse.credentials, limits=LIMITS, retry=RETRY) as session:
            with Ledger(tmp_path / LEDGER_NAME) as ledger:
                summary = await run_pool(
                    [doomed_job, good_job], HttpTransfer(session), ledger=ledger, workers=2
                )
                state = ledger.get("id-doomed").state

    doomed_result, good_result = summary.results
    assert good_result.status == "downloaded"
    assert doomed_result.status == "failed" and "too long" in doomed_result.reason
    assert state == "failed"


# -- 13. malformed catalogue checksums ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [("not-a-hex-digest", "not hexadecimal"), ("ab" * 32, "64 hex digits, MD5 has 32")],
)
async def test_a_malformed_checksum_is_ignored_and_said_so(dl, tmp_path, value, why):
    entity, data = product(dl, "id-1", NAME, checksum=[{"Algorithm": "MD5", "Value": value}])
    log = EventLog()
    with HostileCdse({"id-1": data}) as cdse:
        [result] = (await download(cdse, [entity], tmp_path, sink=log)).results

    assert result.status == "downloaded"
    [event] = log.of(ChecksumIgnored)
    assert event.item == "id-1" and event.algorithm == "MD5" and why in event.reason
    assert len(result.notes) == 1 and why in result.notes[0] and "MD5" in result.notes[0]


async def test_a_malformed_checksum_falls_back_to_the_deep_check(tmp_path):
    # CRCs are right, the manifest's MD5 of one file is not: only the deep check sees it.
    zip_path = build_zip(
        tmp_path / "source.zip",
        {"measurement/data.tiff": b"payload" * 100},
        listed={"measurement/data.tiff": (700, hashlib.md5(b"other").hexdigest())},
        root=NAME,
    )
    data = zip_path.read_bytes()
    os.unlink(zip_path)
    entity = {
        "Id": "id-1",
        "Name": NAME,
        "ContentLength": len(data),
        "Checksum": [{"Algorithm": "MD5", "Value": "not-a-hex-digest"}],
    }
    with HostileCdse({"id-1": data}) as cdse:
        [result] = (await download(cdse, [entity], tmp_path / "out", verify=False)).results

    assert result.status == "failed"
    assert "measurement/data.tiff" in result.reason and "checksum" in result.reason.lower()
    assert not (tmp_path / "out" / f"{NAME}.zip").exists()
