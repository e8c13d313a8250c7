"""A pull on a Dask cluster (LocalCluster with worker processes), against the sandbox."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

distributed = pytest.importorskip("distributed")

import cloudpickle  # noqa: E402
import dask  # noqa: E402

from phidown_async.account_list import load_accounts  # noqa: E402
from phidown_async.config import Limits  # noqa: E402
from phidown_async.download import LEDGER_NAME, download_products  # noqa: E402
from phidown_async.events import (  # noqa: E402
    BytesReceived,
    EventLog,
    ItemStarted,
    ItemVerified,
)
from phidown_async.ledger import Ledger  # noqa: E402
from phidown_async.retry import RetryPolicy  # noqa: E402

pytestmark = pytest.mark.slow

RETRY = RetryPolicy(attempts=6, initial_delay=0.05, max_delay=0.5, jitter=0.05, max_retry_after=1.0)
# A dead worker's lease comes back after the lease timeout plus a validation interval
# (30 s + 10 s by default); short here so that the kill test ends quickly.
SHORT_LEASES = {
    "distributed.scheduler.locks.lease-timeout": "2s",
    "distributed.scheduler.locks.lease-validation-interval": "0.2s",
}


def local_cluster(threads: int = 4) -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=threads,
        processes=True,
        asynchronous=True,
        dashboard_address="127.0.0.1:0",
    )


def write_accounts(sandbox, tmp_path, monkeypatch, connections: int = 2):
    lines = []
    for number, user in enumerate(sandbox.users, start=1):
        monkeypatch.setenv(f"ACCT{number}_USER", user["username"])
        monkeypatch.setenv(f"ACCT{number}_PASS", user["password"])
        lines += [
            "[[account]]",
            f'name = "acct{number}"',
            f'username_env = "ACCT{number}_USER"',
            f'password_env = "ACCT{number}_PASS"',
            f"connections = {connections}",
        ]
    path = tmp_path / "accounts.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_accounts(path)


class Submitted(distributed.diagnostics.plugin.SchedulerPlugin):
    """Keeps, pickled, every task the scheduler is given, and the worker plugins it holds
    meanwhile."""

    def __init__(self) -> None:
        self.pickled: list[bytes] = []
        self.plugins: dict[str, bytes] = {}

    def update_graph(self, scheduler, *, tasks, **kwargs) -> None:
        for key in tasks:
            self.pickled.append(cloudpickle.dumps(scheduler.tasks[key].run_spec))
        self.plugins.update(scheduler.worker_plugins)


def leases_held(dask_scheduler) -> int:
    return sum(len(leases) for leases in dask_scheduler.extensions["semaphores"].leases.values())


async def test_two_accounts_on_two_worker_processes(sandbox_factory, tmp_path, monkeypatch):
    sandbox = sandbox_factory(
        products=24, product_size=512 * 1024, max_connections=2, bandwidth=1.0, users=2
    )
    accounts = write_accounts(sandbox, tmp_path, monkeypatch)
    items = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:24]]
    out = tmp_path / "out"
    events = EventLog()
    async with local_cluster() as cluster, distributed.Client(cluster, asynchronous=True) as client:
        submitted = Submitted()
        cluster.scheduler.add_plugin(submitted)
        summary = await download_products(
            items,
            out,
            accounts=accounts,
            endpoints=sandbox.endpoints,
            retry=RETRY,
            cluster=client,
            sink=events,
        )
        # What went through the scheduler: the tasks, the worker plugin, the events.
        passed = [
            *submitted.pickled,
            *submitted.plugins.values(),
            cloudpickle.dumps(await client.get_events()),
        ]
        assert await client.run_on_scheduler(leases_held) == 0

    assert (summary.downloaded, summary.failed) == (24, 0), summary.failures
    stats = sandbox.stats()
    for user in sandbox.users:
        # Across both worker processes, each account stayed within its quota of 2.
        assert stats["users"][user["username"]]["peak_downloads"] == 2
        assert stats["users"][user["username"]]["throttled"] == 0
    # Every product served once, whole; verified once on disk and once in the ledger.
    assert stats["items"] == {item["Id"]: item["ContentLength"] for item in items}
    assert sorted(p.name for p in out.glob("*.zip")) == sorted(f"{i['Name']}.zip" for i in items)
    assert not list(out.glob("*.part*"))
    with Ledger(out / LEDGER_NAME, readonly=True) as ledger:
        rows = ledger.rows()
    assert {row.state for row in rows} == {"done"} and len(rows) == 24
    assert {row.account for row in rows} == {"acct1", "acct2"}
    # The workers' progress reached this sink: each item started and was received there,
    # and was verified once.
    ids = sorted(item["Id"] for item in items)
    assert sorted(e.item for e in events.of(ItemVerified)) == ids
    assert sorted({e.item for e in events.of(ItemStarted)}) == ids
    received = {}
    for event in events.of(BytesReceived):
        received[event.item] = received.get(event.item, 0) + event.count
    assert received == {item["Id"]: item["ContentLength"] for item in items}

    # No credential passed through the scheduler: no password, no token (JWTs start eyJ).
    assert len(submitted.pickled) >= 24 and submitted.plugins
    secrets = [user["password"].encode() for user in sandbox.users] + [b"eyJ"]
    assert not [secret for secret in secrets if any(secret in blob for blob in passed)]
    # ... though the names of the variables that hold them did (what the workers read).
    assert any(b"ACCT1_PASS" in blob for blob in passed)


async def busy_worker(client, out, names: dict[str, str], least: int) -> str:
    """The address of a worker whose item has at least ``least`` bytes in its .part."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for address, keys in (await client.processing()).items():
            for key in keys:
                part = out / f"{names[str(key).split('-', 2)[2]]}.zip.part"  # phidown-RUN-ID
                if part.is_file() and part.stat().st_size >= least:
                    return address
        await asyncio.sleep(0.05)
    raise AssertionError("no transfer reached the kill point")


async def test_a_killed_worker_s_items_resume_on_another(sandbox_factory, tmp_path, monkeypatch):
    size = 3 << 20
    sandbox = sandbox_factory(products=6, product_size=size, max_connections=2, bandwidth=2.0)
    monkeypatch.setenv("CDSE_USERNAME", sandbox.config.username)
    monkeypatch.setenv("CDSE_PASSWORD", sandbox.config.password)
    items = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:6]]
    names = {item["Id"]: item["Name"] for item in items}
    out = tmp_path / "out"
    with dask.config.set(SHORT_LEASES):
        async with (
            local_cluster(threads=2) as cluster,
            distributed.Client(cluster, asynchronous=True) as client,
        ):
            run = asyncio.ensure_future(
                download_products(
                    items,
                    out,
                    endpoints=sandbox.endpoints,
                    limits=Limits.for_connections(2),
                    retry=RETRY,
                    cluster=client,
                )
            )
            victim = await busy_worker(client, out, names, least=size // 4)
            pid = (await client.run(os.getpid, workers=[victim]))[victim]
            os.kill(pid, signal.SIGKILL)
            summary = await asyncio.wait_for(run, 60)
            # The dead worker's leases expire; every other one was given back.
            deadline = time.monotonic() + 10
            while await client.run_on_scheduler(leases_held) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert await client.run_on_scheduler(leases_held) == 0

    assert (summary.downloaded, summary.failed) == (6, 0), summary.failures
    resumed = sandbox.counters.resumes()
    assert resumed and all(start > 0 for starts in resumed.values() for start in starts)
    served = sandbox.stats()["items"]
    for item in items:
        # Fetched once, except what was in flight when the worker died.
        extra = served[item["Id"]] - item["ContentLength"]
        assert 0 <= extra <= (1 << 20 if item["Id"] in resumed else 0), (item["Id"], extra)
        assert sandbox.counters.peak_downloads() <= 2
    with Ledger(out / LEDGER_NAME, readonly=True) as ledger:
        rows = ledger.rows()
    assert {row.state for row in rows} == {"done"} and len(rows) == 6
    assert sorted(p.name for p in out.glob("*.zip")) == sorted(f"{n}.zip" for n in names.values())
