"""One item's HTTP transfer, protocol details through a scripted `httpx.MockTransport` host."""

from __future__ import annotations

import random

import httpx
import pytest
from blake3 import blake3

from phidown_async.config import Limits
from phidown_async.download.partfile import PartFile
from phidown_async.download.plan import plan_jobs
from phidown_async.download.transfer import HttpTransfer
from phidown_async.events import BytesReceived, EventLog, ItemStarted, RetryScheduled
from phidown_async.retry import RetryPolicy
from phidown_async.session import Session

PRODUCT_ID = "0a1b2c3d-0000-4000-8000-00000000abcd"
NAME = "S1A_IW_GRDH_1SDV_20240101T000000_20240101T000025_051000_062000_ABCD.SAFE"
LIMITS = Limits(connections=2, workers=2, chunk_size=4096, timeout=5.0)


@pytest.fixture
def data(dl) -> bytes:
    return dl.safe_zip(NAME, random.Random(7).randbytes(60_000))


async def fetch(
    dl, host, tmp_path, data, *, verify=True, retry=None, checksums=True, size=None, extract=False
):
    entity = dl.entity(PRODUCT_ID, NAME, data, checksums=checksums)
    if size is not None:
        entity["ContentLength"] = size
    [job] = plan_jobs([entity], tmp_path, catalogue_url=dl.endpoints.download_url)
    log = EventLog()
    async with Session(
        dl.endpoints,
        None,
        limits=LIMITS,
        retry=retry or dl.fast_retry,
        transport=httpx.MockTransport(host),
    ) as session:
        result = await HttpTransfer(session, verify=verify, extract=extract, sink=log)(job)
    return job, result, log


async def test_clean_download_lands_verified_under_its_name(dl, tmp_path, data):
    host = dl.Host(data)
    job, result, log = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded"
    assert job.target.read_bytes() == data
    assert not job.part.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [job.target.name]
    assert result.size == len(data) and result.bytes == len(data) and result.attempts == 1
    # The catalogue offers MD5 and BLAKE3; BLAKE3 alone is computed and recorded.
    assert result.checksum == f"blake3:{blake3(data).hexdigest()}"
    [started] = log.of(ItemStarted)
    assert started.total_bytes == len(data) and started.resume_from == 0
    received = log.of(BytesReceived)
    assert sum(e.count for e in received) == len(data)
    # Progress is batched: far fewer events than 4 KiB network chunks.
    assert len(received) < len(data) // LIMITS.chunk_size


async def test_a_cut_stream_resumes_with_range_and_if_range(dl, tmp_path, data):
    host = dl.Host(data, script=["cut"])
    job, result, log = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded" and result.attempts == 2
    assert job.target.read_bytes() == data
    first, second = host.seen
    assert "Range" not in first.headers
    resumed_at = int(second.headers["Range"].removeprefix("bytes=").rstrip("-"))
    # Every byte that arrived before the break was kept (the body was cut half-way).
    assert resumed_at == len(data) // 2
    assert second.headers["If-Range"] == host.etag
    # Nothing was fetched twice.
    assert result.bytes == len(data)
    assert len(log.of(RetryScheduled)) == 1


async def test_a_part_left_by_an_earlier_run_is_resumed(dl, tmp_path, data):
    job = plan_jobs(
        [dl.entity(PRODUCT_ID, NAME, data)], tmp_path, catalogue_url=dl.endpoints.download_url
    )[0]
    job.part.write_bytes(data[:25_000])
    PartFile(job.part).save(validator='"v1"')
    host = dl.Host(data)
    _, result, log = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded"
    assert job.target.read_bytes() == data
    assert host.ranges_sent() == ["bytes=25000-"]
    assert host.seen[0].headers["If-Range"] == '"v1"'
    assert result.bytes == len(data) - 25_000
    assert log.of(ItemStarted)[0].resume_from == 25_000


async def test_a_changed_etag_restarts_from_zero(dl, tmp_path, data):
    job = plan_jobs(
        [dl.entity(PRODUCT_ID, NAME, data)], tmp_path, catalogue_url=dl.endpoints.download_url
    )[0]
    job.part.write_bytes(b"stale bytes of another version" * 100)
    PartFile(job.part).save(validator='"v0"')
    host = dl.Host(data)  # serves "v1": If-Range fails, the whole file comes with 200
    _, result, _ = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded"
    assert job.target.read_bytes() == data


@pytest.mark.parametrize("ranges", ["ignore", "reject"])
async def test_a_server_without_ranges_gets_a_fresh_start(dl, tmp_path, data, ranges):
    host = dl.Host(data, ranges=ranges, script=["cut"])
    job, result, _ = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded"
    assert job.target.read_bytes() == data
    expected = 3 if ranges == "reject" else 2  # reject: 416, then a request without Range
    assert len(host.seen) == expected
    if ranges == "reject":
        assert host.ranges_sent()[-1] is None


async def test_an_error_page_served_with_200_never_replaces_the_partial_file(dl, tmp_path, data):
    host = dl.Host(data, script=["cut", "error_page"])
    job, result, log = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded" and result.attempts == 3, result.reason
    assert job.target.read_bytes() == data
    # The resume point survived the error page: the third request resumes where the first
    # stopped.
    assert host.ranges_sent()[1] == host.ranges_sent()[2] != None  # noqa: E711
    assert any("error page" in e.reason for e in log.of(RetryScheduled))


async def test_a_corrupt_file_is_deleted_and_fetched_again(dl, tmp_path, data):
    host = dl.Host(data, script=["corrupt"])
    job, result, log = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded" and result.attempts == 2
    assert job.target.read_bytes() == data
    assert host.ranges_sent() == [None, None]
    assert "checksum mismatch" in log.of(RetryScheduled)[0].reason


async def test_corruption_without_catalogue_checksums_is_caught_by_the_manifest(dl, tmp_path, data):
    host = dl.Host(data, script=["corrupt"])
    job, result, log = await fetch(dl, host, tmp_path, data, checksums=False)

    assert result.status == "downloaded"
    assert job.target.read_bytes() == data
    assert "data.tiff" in log.of(RetryScheduled)[0].reason


async def test_persistent_corruption_fails_with_a_reason_and_leaves_nothing(dl, tmp_path, data):
    host = dl.Host(data, script=["corrupt"] * 10)
    retry = RetryPolicy(attempts=3, initial_delay=0.0, jitter=0.0)
    job, result, _ = await fetch(dl, host, tmp_path, data, retry=retry)

    assert result.status == "failed" and result.attempts == 3
    assert "BLAKE3 checksum mismatch" in result.reason
    assert not job.target.exists() and not job.part.exists()


async def test_a_missing_product_fails_at_once(dl, tmp_path, data):
    def gone(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Product not found"})

    _, result, _ = await fetch(dl, gone, tmp_path, data)
    assert result.status == "failed" and result.attempts == 1
    assert "404" in result.reason and "Product not found" in result.reason


async def test_throttling_does_not_use_up_the_items_tries(dl, tmp_path, data):
    host = dl.Host(data, script=["429"] * 5)
    retry = RetryPolicy(attempts=3, initial_delay=0.0, jitter=0.0, max_retry_after=0.0)
    job, result, _ = await fetch(dl, host, tmp_path, data, retry=retry)

    assert result.status == "downloaded" and result.attempts == 6
    assert job.target.read_bytes() == data


async def test_a_whole_part_from_a_crash_is_verified_without_a_request(dl, tmp_path, data):
    job = plan_jobs(
        [dl.entity(PRODUCT_ID, NAME, data)], tmp_path, catalogue_url=dl.endpoints.download_url
    )[0]
    job.part.write_bytes(data)
    host = dl.Host(data)
    _, result, _ = await fetch(dl, host, tmp_path, data)

    assert result.status == "downloaded"
    assert host.seen == []
    assert job.target.read_bytes() == data


async def test_a_verified_file_already_on_disk_is_skipped(dl, tmp_path, data):
    job = plan_jobs(
        [dl.entity(PRODUCT_ID, NAME, data)], tmp_path, catalogue_url=dl.endpoints.download_url
    )[0]
    job.target.write_bytes(data)
    host = dl.Host(data)
    _, result, _ = await fetch(dl, host, tmp_path, data)

    assert result.status == "skipped" and "already on disk" in result.reason
    assert host.seen == []


async def test_a_damaged_file_on_disk_is_replaced(dl, tmp_path, data):
    job = plan_jobs(
        [dl.entity(PRODUCT_ID, NAME, data)], tmp_path, catalogue_url=dl.endpoints.download_url
    )[0]
    middle = len(data) // 2
    job.target.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])
    _, result, _ = await fetch(dl, dl.Host(data), tmp_path, data)

    assert result.status == "downloaded"
    assert job.target.read_bytes() == data


async def test_a_size_that_contradicts_the_catalogue_fails_without_writing(dl, tmp_path, data):
    job, result, _ = await fetch(dl, dl.Host(data), tmp_path, data, size=len(data) + 10)

    assert result.status == "failed"
    assert f"catalogue lists {len(data) + 10}" in result.reason
    assert not job.target.exists()


async def test_extraction_unpacks_the_verified_product_next_to_its_zip(dl, tmp_path, data):
    job, result, _ = await fetch(dl, dl.Host(data), tmp_path, data, extract=True)

    assert result.status == "downloaded"
    assert job.target.read_bytes() == data
    folder = tmp_path / NAME
    assert (folder / "manifest.safe").is_file()
    assert (folder / "measurement" / "data.tiff").stat().st_size == 60_000


# -- verification tiers ----------------------------------------------------------------------


def damaged_member(data: bytes, payload: bytes) -> bytes:
    """``data`` with one byte flipped inside the member ``payload`` (its CRC then fails)."""
    at = data.find(payload[:64]) + len(payload) // 2
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.fixture
def payload() -> bytes:
    return random.Random(7).randbytes(60_000)


async def test_a_byte_flipped_on_the_way_is_caught_by_the_whole_file_checksum(
    dl, tmp_path, data, payload
):
    class FlipOnce:
        def __init__(self) -> None:
            self.host = dl.Host(data)
            self.flipped = False

        def __call__(self, request: httpx.Request) -> httpx.Response:
            response = self.host(request)
            if self.flipped:
                return response
            self.flipped = True
            return httpx.Response(
                200, headers=response.headers, content=damaged_member(data, payload)
            )

    flip = FlipOnce()
    job, result, log = await fetch(dl, flip, tmp_path, data)
    assert result.status == "downloaded" and result.attempts == 2
    assert job.target.read_bytes() == data
    assert "BLAKE3 checksum mismatch" in log.of(RetryScheduled)[0].reason


async def test_the_default_tier_trusts_a_matching_checksum_and_the_full_tier_reads_members(
    dl, tmp_path, payload, data
):
    # CDSE's own file is damaged: the catalogue's checksum describes the damaged bytes.
    source = damaged_member(data, payload)
    job, result, _ = await fetch(dl, dl.Host(source), tmp_path / "default", source)
    assert result.status == "downloaded" and result.attempts == 1  # no member read twice

    host = dl.Host(source)
    job, result, _ = await fetch(dl, host, tmp_path / "full", source, verify="full")
    assert result.status == "failed" and result.permanent
    assert "corrupt at the source" in (result.reason or "")
    assert len(host.seen) == 1  # the same bytes would come again: not fetched twice
    kept = job.target.with_name(job.target.name.removesuffix(".zip") + ".corrupt-at-source.zip")
    assert kept.read_bytes() == source and not job.target.exists()


async def test_the_default_tier_checks_the_manifest_listing(dl, tmp_path):
    import io
    import zipfile

    listed_but_missing = io.BytesIO()
    original = zipfile.ZipFile(io.BytesIO(dl.safe_zip(NAME, b"x" * 1000)))
    with zipfile.ZipFile(listed_but_missing, "w") as archive:
        for info in original.infolist():
            if not info.filename.endswith("data.tiff"):
                archive.writestr(info, original.read(info))
    source = listed_but_missing.getvalue()
    _, result, _ = await fetch(dl, dl.Host(source), tmp_path, source)
    assert result.status == "failed" and result.permanent
    assert "missing from the zip" in (result.reason or "")


async def test_without_a_catalogue_checksum_the_members_are_read(dl, tmp_path, payload, data):
    source = damaged_member(data, payload)
    retry = RetryPolicy(attempts=2, initial_delay=0.0, jitter=0.0)
    job, result, _ = await fetch(
        dl, dl.Host(source), tmp_path, source, checksums=False, retry=retry
    )
    assert result.status == "failed" and not result.permanent  # it may be the network's fault
    assert "data.tiff" in (result.reason or "") and not job.target.exists()
