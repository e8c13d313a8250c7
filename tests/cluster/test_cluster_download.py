"""A pull on a Dask cluster (LocalCluster, worker processes), against the sandbox."""

from __future__ import annotations

import pytest

distributed = pytest.importorskip("distributed")

from phidown_async.account_list import load_accounts  # noqa: E402
from phidown_async.download import LEDGER_NAME, download_products  # noqa: E402
from phidown_async.ledger import Ledger  # noqa: E402
from phidown_async.retry import RetryPolicy  # noqa: E402

pytestmark = pytest.mark.slow

RETRY = RetryPolicy(attempts=6, initial_delay=0.05, max_delay=0.5, jitter=0.05, max_retry_after=1.0)


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


async def test_two_accounts_on_two_worker_processes(sandbox_factory, tmp_path, monkeypatch):
    sandbox = sandbox_factory(
        products=24, product_size=512 * 1024, max_connections=2, bandwidth=1.0, users=2
    )
    accounts = write_accounts(sandbox, tmp_path, monkeypatch)
    items = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:24]]
    out = tmp_path / "out"
    async with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=4,
            processes=True,
            asynchronous=True,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster, asynchronous=True) as client,
    ):
        summary = await download_products(
            items,
            out,
            accounts=accounts,
            endpoints=sandbox.endpoints,
            retry=RETRY,
            cluster=client,
        )
    assert (summary.downloaded, summary.failed) == (24, 0), summary.failures
    stats = sandbox.stats()
    for user in sandbox.users:
        assert stats["users"][user["username"]]["peak_downloads"] <= 2
        assert stats["users"][user["username"]]["throttled"] == 0
    assert stats["items"] == {item["Id"]: item["ContentLength"] for item in items}
    with Ledger(out / LEDGER_NAME, readonly=True) as ledger:
        rows = ledger.rows()
    assert {row.state for row in rows} == {"done"} and len(rows) == 24
    assert {row.account for row in rows} == {"acct1", "acct2"}
