"""Several accounts in one run, on the sandbox: work stealing, quotas, ledger, time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from phidown_async import Account, Credentials, Session
from phidown_async.config import Limits
from phidown_async.download import LEDGER_NAME, download_products
from phidown_async.download.bursts import download_bursts
from phidown_async.errors import ConfigError
from phidown_async.ledger import Ledger
from phidown_async.retry import RetryPolicy

RETRY = RetryPolicy(attempts=6, initial_delay=0.05, max_delay=0.5, jitter=0.05, max_retry_after=1.0)
# 24 products of 256 KiB at 1 MB/s per connection: one account of 2 connections needs
# about 3 s, two accounts about half that.
SIZE = 256 * 1024
BANDWIDTH = 1.0


def accounts_of(sandbox, connections: int = 2) -> list[Account]:
    return [
        Account(f"acct{number}", Credentials(user["username"], user["password"]), connections)
        for number, user in enumerate(sandbox.users, start=1)
    ]


def products(sandbox, count: int) -> list[dict]:
    return [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:count]]


async def timed_run(sandbox, items, out: Path, accounts: list[Account]) -> float:
    started = time.monotonic()
    summary = await download_products(
        items, out, accounts=accounts, endpoints=sandbox.endpoints, retry=RETRY
    )
    seconds = time.monotonic() - started
    assert (summary.downloaded, summary.failed) == (len(items), 0), summary.failures
    return seconds


async def test_two_accounts_share_the_work_and_halve_the_time(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(
        products=24, product_size=SIZE, max_connections=2, bandwidth=BANDWIDTH, users=2
    )
    items = products(sandbox, 24)
    first, second = accounts_of(sandbox)

    alone = await timed_run(sandbox, items, tmp_path / "one", [first])
    sandbox.counters.reset()
    together = await timed_run(sandbox, items, tmp_path / "two", [first, second])

    stats = sandbox.stats()
    users = [user["username"] for user in sandbox.users]
    for user in users:
        assert stats["users"][user]["peak_downloads"] == 2  # each used its quota, no more
        assert stats["users"][user]["throttled"] == 0  # no account went past its own
        assert stats["users"][user]["password_grants"] <= 1
    # Every product was served once, whole: nothing fetched twice.
    assert stats["items"] == {item["Id"]: item["ContentLength"] for item in items}
    out = tmp_path / "two"
    assert sorted(p.name for p in out.glob("*.zip")) == sorted(f"{i['Name']}.zip" for i in items)
    assert not list(out.glob("*.part*"))
    with Ledger(out / LEDGER_NAME, readonly=True) as ledger:
        rows = ledger.rows()
    assert {row.state for row in rows} == {"done"} and len(rows) == 24
    per_account = {name: sum(row.account == name for row in rows) for name in ("acct1", "acct2")}
    assert sum(per_account.values()) == 24 and min(per_account.values()) >= 6, per_account
    # Two accounts of 2 connections at the same rate: about half the time of one.
    assert 0.35 < together / alone < 0.75, (together, alone)


async def test_results_name_the_account_and_bursts_spread_too(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=6, burst_size=8 * 1024, users=2, burst_delay=0.2)
    bursts = [b["Id"] for b in sandbox.archive.bursts[:8]]
    summary = await download_bursts(
        bursts, tmp_path, accounts=accounts_of(sandbox, 1), endpoints=sandbox.endpoints
    )

    assert (summary.downloaded, summary.failed) == (8, 0)
    assert {r.account for r in summary.results} == {"acct1", "acct2"}
    stats = sandbox.stats()["users"]
    assert all(stats[u["username"]]["peak_downloads"] == 1 for u in sandbox.users)


async def test_accounts_exclude_a_session_or_credentials(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=2, users=2)
    accounts = accounts_of(sandbox)
    with pytest.raises(ConfigError, match="not both"):
        await download_products(
            [], tmp_path, accounts=accounts, credentials=accounts[0].credentials
        )
    async with Session(sandbox.endpoints) as session:
        with pytest.raises(ConfigError, match="not both"):
            await download_products([], tmp_path, accounts=accounts, session=session)
    with pytest.raises(ConfigError, match="two accounts are named 'acct1'"):
        await download_products(
            [], tmp_path, accounts=[accounts[0], accounts[0]], endpoints=sandbox.endpoints
        )


async def test_one_account_run_records_no_account(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(products=3, product_size=16 * 1024)
    summary = await download_products(
        products(sandbox, 3),
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=Credentials(sandbox.config.username, sandbox.config.password),
        limits=Limits.for_connections(2),
    )
    assert summary.downloaded == 3 and {r.account for r in summary.results} == {None}
    with Ledger(tmp_path / LEDGER_NAME, readonly=True) as ledger:
        assert {row.account for row in ledger.rows()} == {None}


async def test_an_account_past_its_quota_adapts_alone(sandbox_factory, tmp_path):
    # The first account claims 4 connections where the server allows 2: its budget learns
    # from the 429s; the second account's budget never sees one.
    sandbox = sandbox_factory(
        products=16, product_size=64 * 1024, max_connections=2, bandwidth=1.0, users=2
    )
    items = products(sandbox, 16)
    greedy, modest = accounts_of(sandbox)
    greedy = Account(greedy.name, greedy.credentials, 4)

    summary = await download_products(
        items, tmp_path, accounts=[greedy, modest], endpoints=sandbox.endpoints, retry=RETRY
    )

    assert (summary.downloaded, summary.failed) == (16, 0), summary.failures
    stats = sandbox.stats()["users"]
    first, second = (user["username"] for user in sandbox.users)
    assert stats[first]["throttled"] >= 1
    assert stats[second]["throttled"] == 0
    assert {r.account for r in summary.results} == {"acct1", "acct2"}
    assert sandbox.stats()["items"] == {item["Id"]: item["ContentLength"] for item in items}
