"""Interrupted runs resume where they stopped: cancel, SIGINT and SIGKILL, then run again."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from phidown_async.config import Credentials, Limits
from phidown_async.download import LEDGER_NAME, download_products
from phidown_async.events import EventLog, RetryScheduled
from phidown_async.ledger import Ledger
from phidown_async.retry import RetryPolicy
from phidown_async.sandbox.settings import Faults

CHUNK = 64 * 1024
# What a killed run may have been sent but never written: the client's chunk buffer plus
# what was on the wire (the sandbox paces 128 KiB chunks); far below a product's size.
WINDOW = CHUNK + 128 * 1024 + 64 * 1024
LIMITS = Limits(connections=4, workers=4, chunk_size=CHUNK, timeout=10)
RETRY = RetryPolicy(attempts=5, initial_delay=0.05, max_delay=0.5, jitter=0.0)

# Run in a subprocess: downloads the Ids given on the command line into argv[1], with the
# sandbox's URLs and account taken from the environment (PHIDOWN_*, CDSE_*).
SCRIPT = f"""
import signal, sys, anyio
# Ctrl-C as in a terminal: a test run started in the background (`make test &`) ignores
# SIGINT, and its children would inherit that.
signal.signal(signal.SIGINT, signal.default_int_handler)
from phidown_async.config import Limits
from phidown_async.download import download_products
from phidown_async.retry import RetryPolicy

async def main():
    await download_products(
        sys.argv[2:], sys.argv[1],
        limits=Limits(connections=4, workers=4, chunk_size={CHUNK}, timeout=10),
        retry=RetryPolicy(attempts=5, initial_delay=0.05, jitter=0.0))

anyio.run(main)
"""


def account(sandbox) -> Credentials:
    return Credentials(sandbox.config.username, sandbox.config.password)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def part_sizes(out: Path) -> dict[str, int]:
    return {p.name.removesuffix(".zip.part"): p.stat().st_size for p in out.glob("*.zip.part")}


def wait_for_bytes(out: Path, least: int, seconds: float = 30.0) -> None:
    """Block (bounded) until some part file in ``out`` holds at least ``least`` bytes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(size >= least for size in part_sizes(out).values()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no part file reached {least} bytes within {seconds} s")


@pytest.fixture(params=["http", "https"])
def slow_sandbox(request, sandbox_factory, monkeypatch):
    # 4 products of ~1.5 MB at 1 MB/s per connection: about 1.5 s each, time to interrupt.
    # Killed, interrupted and cancelled runs resume over HTTPS too, as against CDSE.
    sandbox = sandbox_factory(
        products=12, product_size=1_500_000, bandwidth=1.0, tls=request.param == "https"
    )
    if sandbox.ca_file is not None:
        monkeypatch.setenv("SSL_CERT_FILE", str(sandbox.ca_file))
    return sandbox


def start_script(sandbox, out: Path, ids: list[str]) -> subprocess.Popen:
    env = {**os.environ, **sandbox.env}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), *ids],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def finish_and_check(sandbox, out: Path, entities: list[dict]) -> None:
    """Run again in-process: everything completes and nothing was fetched twice."""
    summary = await download_products(
        entities,
        out,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        limits=LIMITS,
        retry=RETRY,
    )
    assert summary.failed == 0
    assert summary.downloaded + summary.skipped == len(entities)
    served = sandbox.counters.snapshot()["bytes_served"]
    for entity in entities:
        target = out / f"{entity['Name']}.zip"
        assert md5(target) == md5(sandbox.archive.product_zip(entity["Id"]))
        # Both runs together: the product once, plus at most what was lost in flight.
        assert entity["ContentLength"] <= served[entity["Id"]] <= entity["ContentLength"] + WINDOW
    assert not list(out.glob("*.part*"))
    with Ledger(out / LEDGER_NAME) as ledger:
        assert ledger.summary().done == len(entities)


def test_a_killed_run_resumes_without_fetching_twice(slow_sandbox, tmp_path):
    sandbox = slow_sandbox
    entities = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:4]]
    process = start_script(sandbox, tmp_path, [e["Id"] for e in entities])
    try:
        wait_for_bytes(tmp_path, 300_000)
    finally:
        process.kill()  # SIGKILL: no cleanup of any kind runs
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL

    on_disk = part_sizes(tmp_path)
    served = sandbox.counters.snapshot()["bytes_served"]
    assert on_disk, "the kill came before any byte was written"
    for entity in entities:
        kept = on_disk.get(entity["Name"], 0)
        assert served.get(entity["Id"], 0) - kept <= WINDOW
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        assert ledger.summary().active >= 1  # the dead run's claims are still there

    anyio.run(finish_and_check, sandbox, tmp_path, entities)


def test_sigint_stops_cleanly_and_gives_claims_back(slow_sandbox, tmp_path):
    sandbox = slow_sandbox
    entities = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[4:8]]
    process = start_script(sandbox, tmp_path, [e["Id"] for e in entities])
    try:
        wait_for_bytes(tmp_path, 300_000)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode != 0
    assert b"KeyboardInterrupt" in stderr

    assert part_sizes(tmp_path)  # the resume points survive
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        summary = ledger.summary()
    assert (summary.active, summary.done) == (0, 0)
    assert summary.pending == 4

    anyio.run(finish_and_check, sandbox, tmp_path, entities)


async def test_a_cancelled_run_keeps_its_parts_and_resumes(slow_sandbox, tmp_path):
    sandbox = slow_sandbox
    entities = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[8:12]]
    with anyio.move_on_after(30) as deadline:
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: download_products(
                    entities,
                    tmp_path,
                    endpoints=sandbox.endpoints,
                    credentials=account(sandbox),
                    limits=LIMITS,
                    retry=RETRY,
                )
            )
            await anyio.to_thread.run_sync(wait_for_bytes, tmp_path, 300_000)
            group.cancel_scope.cancel()
    assert not deadline.cancelled_caught

    assert len(part_sizes(tmp_path)) >= 1
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        assert ledger.summary().active == 0

    await finish_and_check(sandbox, tmp_path, entities)


async def test_a_server_that_ignores_ranges_still_ends_identical(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=4, product_size=600_000, bandwidth=1.0, range_mode="ignore")
    [entity] = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:1]]
    with anyio.move_on_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: download_products(
                    [entity],
                    tmp_path,
                    endpoints=sandbox.endpoints,
                    credentials=account(sandbox),
                    limits=LIMITS,
                    retry=RETRY,
                )
            )
            await anyio.to_thread.run_sync(wait_for_bytes, tmp_path, 200_000)
            group.cancel_scope.cancel()
    kept = part_sizes(tmp_path)[entity["Name"]]

    summary = await download_products(
        [entity],
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        limits=LIMITS,
        retry=RETRY,
    )
    assert summary.downloaded == 1
    target = tmp_path / f"{entity['Name']}.zip"
    assert md5(target) == md5(sandbox.archive.product_zip(entity["Id"]))
    # The part could not be continued: the whole file came again.
    assert sandbox.counters.bytes_served(entity["Id"]) >= kept + entity["ContentLength"]


@pytest.mark.parametrize("fault", ["reset", "short"])
async def test_a_body_cut_mid_way_over_https_resumes_with_a_range(
    sandbox_factory, tmp_path, monkeypatch, fault
):
    # The HTTPS sandbox ends each product's first body half-way (aborted, or closed cleanly).
    sandbox = sandbox_factory(
        products=4, product_size=600_000, tls=True, faults=Faults(schedule={fault: (1,)})
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(sandbox.ca_file))
    entities = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:2]]
    log = EventLog()

    summary = await download_products(
        entities,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        limits=LIMITS,
        retry=RETRY,
        sink=log,
    )

    assert sandbox.endpoints.download_url.startswith("https://")
    assert summary.downloaded == len(entities), summary.failures
    assert len(log.of(RetryScheduled)) == len(entities)
    resumes = sandbox.counters.resumes()
    for entity in entities:
        target = tmp_path / f"{entity['Name']}.zip"
        assert md5(target) == md5(sandbox.archive.product_zip(entity["Id"]))
        size, cut = entity["ContentLength"], entity["ContentLength"] // 2
        # The second try asked for the rest with Range, from what the first one had written.
        [start] = resumes[entity["Id"]]
        assert 0 < start <= cut
        # Nothing else was served: the cut body, then the rest from where the part ended.
        assert sandbox.counters.bytes_served(entity["Id"]) == cut + size - start
    assert not list(tmp_path.glob("*.part*"))
