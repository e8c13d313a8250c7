"""The worker pool: claims, skips, outcomes and cancellation, with stand-in transfers."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import anyio
import pytest

from phidown_async.config import Credentials, Endpoints, Limits
from phidown_async.download import LEDGER_NAME, download_products
from phidown_async.download.plan import plan_jobs
from phidown_async.download.pool import run_pool
from phidown_async.download.results import ItemResult
from phidown_async.errors import AuthError
from phidown_async.events import (
    EventLog,
    ItemFailed,
    ItemSkipped,
    ItemVerified,
    ItemWaiting,
)
from phidown_async.ledger import Ledger, NewItem
from phidown_async.owners import make_owner
from phidown_async.retry import RetryPolicy
from phidown_async.sandbox.settings import FAULT_KINDS, Faults

CATALOGUE = "https://catalogue.test/odata/v1"
RETRY = RetryPolicy(attempts=6, initial_delay=0.05, max_delay=0.5, jitter=0.05, max_retry_after=1.0)


def jobs_for(tmp_path: Path, count: int):
    entities = [
        {"Id": f"00000000-0000-4000-8000-{i:012d}", "Name": f"P{i:05d}.SAFE", "ContentLength": 10}
        for i in range(count)
    ]
    return plan_jobs(entities, tmp_path, catalogue_url=CATALOGUE)


class Writer:
    """A transfer that writes 10 bytes to the target and tracks its own concurrency."""

    def __init__(self, ledger: Ledger | None = None, workers: int = 0) -> None:
        self.calls: list[str] = []
        self.active = self.peak = 0
        self.ledger, self.workers = ledger, workers
        self.over_claimed = False

    async def __call__(self, job, report) -> ItemResult:
        self.calls.append(job.id)
        self.active += 1
        self.peak = max(self.peak, self.active)
        if self.ledger is not None and self.ledger.summary().active > self.workers:
            self.over_claimed = True
        await anyio.sleep(0)
        assert await report(5)
        job.target.write_bytes(b"0123456789")
        self.active -= 1
        return ItemResult(
            job.id,
            job.name,
            "downloaded",
            path=job.target,
            attempts=1,
            bytes=10,
            size=10,
            checksum="md5:x",
        )


async def test_every_job_runs_once_within_the_worker_bound(tmp_path):
    jobs = jobs_for(tmp_path, 300)
    log = EventLog()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        writer = Writer(ledger, workers=7)
        summary = await run_pool(jobs, writer, ledger=ledger, workers=7, sink=log)
        rows = ledger.rows()

    assert sorted(writer.calls) == sorted(job.id for job in jobs)
    assert writer.peak <= 7 and not writer.over_claimed
    assert summary.downloaded == 300 and summary.ok and summary.bytes == 3000
    assert [r.id for r in summary.results] == [job.id for job in jobs]  # input order
    assert {row.state for row in rows} == {"done"} and len(rows) == 300
    assert {row.checksum for row in rows} == {"md5:x"}
    assert len(log.of(ItemVerified)) == 300


async def test_done_items_whose_files_are_there_are_skipped(tmp_path):
    jobs = jobs_for(tmp_path, 4)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        await run_pool(jobs, Writer(), ledger=ledger, workers=2)
        jobs[1].target.unlink()  # the user deleted one file
        writer = Writer()
        log = EventLog()
        summary = await run_pool(jobs, writer, ledger=ledger, workers=2, sink=log)
        states = {row.id: row.state for row in ledger.rows()}

    assert writer.calls == [jobs[1].id]
    assert (summary.skipped, summary.downloaded) == (3, 1)
    assert {e.reason for e in log.of(ItemSkipped)} == {"already downloaded"}
    assert set(states.values()) == {"done"}


async def test_an_item_another_live_process_holds_is_left_to_it_without_wait(tmp_path):
    jobs = jobs_for(tmp_path, 3)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add([NewItem(jobs[0].id, name=jobs[0].name)])
        other = make_owner("other-run")  # this (live) pid, another run
        assert ledger.claim(jobs[0].id, other)
        writer = Writer()
        summary = await run_pool(jobs, writer, ledger=ledger, workers=2, wait=False)
        row = ledger.get(jobs[0].id)

    assert jobs[0].id not in writer.calls
    assert summary.results[0].status == "skipped" and summary.results[0].path is None
    assert summary.results[0].reason == f"held by another process (PID {os.getpid()})"
    assert summary.ok and summary.downloaded == 2
    assert row.state == "active" and row.owner == other


@pytest.mark.parametrize("holder_ends", ["done", "released"])
async def test_the_run_waits_for_an_item_another_process_holds(tmp_path, holder_ends):
    jobs = jobs_for(tmp_path, 3)
    waiting = anyio.Event()
    log = EventLog()

    def sink(event) -> None:
        log(event)
        if isinstance(event, ItemWaiting):
            waiting.set()

    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add([NewItem(jobs[0].id, name=jobs[0].name)])
        other = make_owner("other-run")
        assert ledger.claim(jobs[0].id, other)
        writer = Writer()

        async def the_other_process() -> None:
            await waiting.wait()
            if holder_ends == "done":
                jobs[0].target.write_bytes(b"0123456789")
                ledger.done(jobs[0].id, jobs[0].target, 10, "md5:x", owner=other)
            else:
                ledger.release(jobs[0].id, owner=other)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                group.start_soon(the_other_process)
                summary = await run_pool(jobs, writer, ledger=ledger, workers=2, sink=sink)

    (waited,) = log.of(ItemWaiting)
    assert waited.item == jobs[0].id and waited.holder == f"another process (PID {os.getpid()})"
    first = summary.results[0]
    assert first.path == jobs[0].target  # verified on disk in the end
    if holder_ends == "done":
        assert first.status == "skipped" and jobs[0].id not in writer.calls
    else:
        assert first.status == "downloaded" and writer.calls.count(jobs[0].id) == 1
    assert summary.ok and [r.path is not None for r in summary.results] == [True] * 3


async def test_failures_are_results_recorded_with_reason_and_attempts(tmp_path):
    jobs = jobs_for(tmp_path, 3)

    async def flaky(job, report) -> ItemResult:
        if job is jobs[1]:
            return ItemResult(job.id, job.name, "failed", reason="gave up: 503", attempts=4)
        job.target.write_bytes(b"x" * 10)
        return ItemResult(job.id, job.name, "downloaded", path=job.target, size=10)

    log = EventLog()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        summary = await run_pool(jobs, flaky, ledger=ledger, workers=3, sink=log)
        row = ledger.get(jobs[1].id)

    assert (summary.downloaded, summary.failed, summary.ok) == (2, 1, False)
    assert summary.failures[0].reason == "gave up: 503"
    assert (row.state, row.error, row.attempts) == ("failed", "gave up: 503", 4)
    [failed] = log.of(ItemFailed)
    assert (failed.item, failed.attempts) == (jobs[1].id, 4)


async def test_cancelling_the_run_gives_every_claim_back(tmp_path):
    jobs = jobs_for(tmp_path, 40)
    started = anyio.Event()
    count = 0

    async def endless(job, report) -> ItemResult:
        nonlocal count
        count += 1
        if count == 4:
            started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    with Ledger(tmp_path / "l.sqlite") as ledger:
        with anyio.move_on_after(10) as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: run_pool(jobs, endless, ledger=ledger, workers=4))
                await started.wait()
                assert ledger.summary().active == 4
                group.cancel_scope.cancel()
        summary = ledger.summary()

    assert not scope.cancelled_caught  # the run stopped on our cancel, not the timeout
    assert (summary.active, summary.pending, summary.done) == (0, 40, 0)


async def test_an_error_that_ends_the_run_is_raised_once_claims_are_released(tmp_path):
    jobs = jobs_for(tmp_path, 20)

    async def refused(job, report) -> ItemResult:
        if job is jobs[2]:
            raise AuthError("The CDSE token endpoint refused the password grant", status=401)
        await anyio.sleep(5)
        raise AssertionError("should have been cancelled")

    with Ledger(tmp_path / "l.sqlite") as ledger:
        with pytest.raises(AuthError, match="refused the password grant"):
            with anyio.fail_after(10):
                await run_pool(jobs, refused, ledger=ledger, workers=4)
        assert ledger.summary().active == 0


async def test_no_jobs_is_an_empty_summary(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        summary = await run_pool([], Writer(), ledger=ledger, workers=4)
    assert summary.results == () and summary.ok


# -- end to end, against the sandbox on 127.0.0.1 --------------------------------------------


def account(sandbox) -> Credentials:
    return Credentials(sandbox.config.username, sandbox.config.password)


def products(sandbox, count: int) -> list[dict]:
    return [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:count]]


def digest(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def assert_on_disk_identical(sandbox, out: Path, entities: list[dict]) -> int:
    """Every final file equals the sandbox's zip; returns how many are there."""
    present = 0
    for entity in entities:
        target = out / f"{entity['Name']}.zip"
        if target.exists():
            present += 1
            assert digest(target) == digest(sandbox.archive.product_zip(entity["Id"])), target
    return present


async def test_products_download_identical_and_recorded(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=40, product_size=48 * 1024)
    entities = products(sandbox, 24)
    # A DataFrame of entities, bare Ids and bare names: the last two go through the catalogue.
    items = [
        *entities[:16],
        *(e["Id"] for e in entities[16:20]),
        *(e["Name"] for e in entities[20:]),
    ]
    limits = Limits(connections=4, workers=6, chunk_size=16 * 1024, timeout=10)
    log = EventLog()
    summary = await download_products(
        items,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        limits=limits,
        retry=RETRY,
        sink=log,
    )

    assert (summary.downloaded, summary.failed) == (24, 0)
    assert assert_on_disk_identical(sandbox, tmp_path, entities) == 24
    assert not list(tmp_path.glob("*.part*"))
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        rows = ledger.rows()
    assert len(rows) == 24 and {row.state for row in rows} == {"done"}
    assert {row.id for row in rows} == {e["Id"] for e in entities}
    counters = sandbox.counters
    assert 1 <= counters.peak_downloads() <= limits.connections
    assert counters.snapshot()["token_grants"] == {"password": 1}
    assert len(log.of(ItemVerified)) == 24

    # Running it again finds everything done: nothing is served a second time.
    served = counters.snapshot()["bytes_served"]
    again = await download_products(
        items,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        limits=limits,
        retry=RETRY,
    )
    assert (again.skipped, again.downloaded, again.bytes) == (24, 0, 0)
    assert counters.snapshot()["bytes_served"] == served


async def test_a_quota_below_the_budget_is_absorbed(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=30, product_size=32 * 1024, max_connections=2, bandwidth=0.2)
    entities = products(sandbox, 20)
    limits = Limits(connections=4, workers=4, chunk_size=16 * 1024, timeout=10)
    summary = await download_products(
        entities,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        limits=limits,
        retry=RETRY,
    )

    assert (summary.downloaded, summary.failed) == (20, 0)
    assert assert_on_disk_identical(sandbox, tmp_path, entities) == 20
    assert sandbox.counters.requests("product", 429) >= 1  # the quota did bite
    assert sandbox.counters.peak_downloads() <= 2


async def test_unknown_ids_and_names_fail_with_a_reason(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=10, product_size=16 * 1024)
    summary = await download_products(
        ["00000000-dead-4000-8000-000000000000", "S1A_NO_SUCH_PRODUCT.SAFE"],
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        retry=RETRY,
    )

    assert summary.failed == 2
    reasons = sorted(r.reason for r in summary.failures)
    assert "no product named 'S1A_NO_SUCH_PRODUCT.SAFE'" in reasons[0]
    assert "no product with Id 00000000-dead-4000-8000-000000000000" in reasons[1]


@pytest.fixture(scope="module", params=["http", "https"])
def fault_sandbox(request):
    """The fault matrix runs over plain HTTP and over HTTPS, as the real CDSE serves."""
    from phidown_async.sandbox import Sandbox, SandboxConfig

    config = SandboxConfig(
        products=60, product_size=24 * 1024, max_connections=8, tls=request.param == "https"
    )
    with Sandbox(config) as sandbox:
        yield sandbox


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_every_fault_kind_ends_verified_or_failed_with_a_reason(
    fault_sandbox, tmp_path, kind, monkeypatch
):
    sandbox = fault_sandbox
    if sandbox.ca_file is not None:
        monkeypatch.setenv("SSL_CERT_FILE", str(sandbox.ca_file))
    sandbox.set_faults(Faults(rates={kind: 0.3}, retry_after=0.0, stall_seconds=2.0))
    sandbox.counters.reset()
    entities = products(sandbox, 50)
    limits = Limits(connections=8, workers=8, chunk_size=8 * 1024, timeout=0.3)
    retry = RetryPolicy(
        attempts=8, initial_delay=0.01, max_delay=0.05, jitter=0.0, max_retry_after=0.05
    )
    try:
        summary = await download_products(
            entities,
            tmp_path,
            endpoints=sandbox.endpoints,
            credentials=account(sandbox),
            limits=limits,
            retry=retry,
        )
    finally:
        sandbox.set_faults(Faults())

    assert sandbox.counters.snapshot()["faults"].get(kind, 0) >= 10  # it really was hit
    assert len(summary.results) == 50
    for result in summary.failures:
        assert result.reason and result.attempts >= 1
        assert not (tmp_path / f"{result.name}.zip").exists()
    present = assert_on_disk_identical(sandbox, tmp_path, entities)
    assert present == summary.downloaded >= 45


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with a redirect; remembers the Authorization headers it saw."""

    location: ClassVar[str] = ""
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(302)
        self.send_header("Location", self.location + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _redirector(location: str) -> tuple[ThreadingHTTPServer, type[_Recorder]]:
    handler = type("Handler", (_Recorder,), {"location": location, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


async def test_a_redirect_to_an_unconfigured_host_never_gets_the_token(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=10, product_size=16 * 1024)
    download_origin = sandbox.endpoints.download_url.removesuffix("/odata/v1")
    # configured catalogue -> unconfigured host -> the sandbox's download host
    stranger, stranger_seen = _redirector(download_origin)
    stranger_origin = f"http://127.0.0.1:{stranger.server_port}"
    entry, entry_seen = _redirector(stranger_origin)
    endpoints = Endpoints(
        catalogue_url=f"http://127.0.0.1:{entry.server_port}/odata/v1",
        download_url=sandbox.endpoints.download_url,
        token_url=sandbox.token_url,
    )
    try:
        entities = products(sandbox, 3)
        summary = await download_products(
            entities, tmp_path, endpoints=endpoints, credentials=account(sandbox), retry=RETRY
        )
    finally:
        for server in (entry, stranger):
            server.shutdown()
            server.server_close()

    assert summary.downloaded == 3
    assert assert_on_disk_identical(sandbox, tmp_path, entities) == 3
    assert len(stranger_seen.seen) == 3 and set(stranger_seen.seen) == {None}
    # The configured hosts did get it (so the test could tell the difference).
    assert all(h and h.startswith("Bearer ") for h in entry_seen.seen)
    assert sandbox.counters.requests("product", 200) == 3


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_many_transfers_share_one_token_refreshed_on_time(sandbox_factory, tmp_path):
    # The case: 64 concurrent transfers, 5 s tokens, a run of about a minute.
    # Product zips are 19-49 KB served at 15 KB/s per connection, about 2.3 s each, so
    # requests, and with them token checks, keep starting until the end of the run.
    lifetime, count = 5.0, 1600
    sandbox = sandbox_factory(
        products=count,
        product_size=2_000,
        bandwidth=0.015,
        max_connections=64,
        access_token_lifetime=lifetime,
    )
    entities = products(sandbox, count)
    limits = Limits(connections=64, workers=64, chunk_size=8 * 1024, timeout=15)

    started = time.monotonic()
    summary = await download_products(
        entities,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        limits=limits,
        retry=RETRY,
    )
    seconds = time.monotonic() - started

    assert (summary.downloaded, summary.failed) == (count, 0)
    assert sandbox.counters.peak_downloads() > 48  # it really ran wide
    grants = sandbox.counters.snapshot()["token_grants"]
    assert grants.get("password") == 1  # one session for the whole run
    refreshes = grants.get("refresh_token", 0)
    assert seconds > 40
    # Never more often than the refresh margin (5% of a short lifetime) allows; at most
    # about one lifetime less at the end, where the last transfers ask for no new token
    # (a bound of 1 there failed twice on a loaded 2-core machine, off by 0.04 and 0.05).
    assert refreshes <= seconds / (lifetime * 0.95) + 1, (refreshes, seconds)
    assert refreshes >= seconds / lifetime - 2, (refreshes, seconds)
    assert assert_on_disk_identical(sandbox, tmp_path, entities[:32]) == 32
