"""One intake for every download: results at their input positions, one rejection policy.

Products and bursts run against the sandbox on 127.0.0.1 (S3: tests/download/test_s3.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from phidown_async.config import Credentials, Limits
from phidown_async.download import download_products
from phidown_async.download.bursts import download_bursts
from phidown_async.download.intake import NO_ID_OR_NAME, take_in, to_records
from phidown_async.events import EventLog, ItemFailed
from phidown_async.retry import RetryPolicy
from phidown_async.session import Session

FAST = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.02, jitter=0.0)
UNKNOWN_ID = "00000000-dead-4000-8000-000000000000"


@pytest.fixture(scope="module")
def sandbox() -> Any:
    from phidown_async.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(products=30, product_size=16 * 1024, burst_size=4096)) as running:
        yield running


def account(sandbox: Any) -> Credentials:
    return Credentials(sandbox.config.username, sandbox.config.password)


async def test_product_results_keep_input_order_around_a_failed_lookup(sandbox, tmp_path):
    first, second, third = sandbox.archive.products[:3]
    items = [
        dict(first),
        "S1A_NO_SUCH_PRODUCT.SAFE",  # looked up, not found: fails where it stands
        second["Name"],  # looked up by name, found
        {"ContentLength": 3},  # neither Id nor Name
        third["Id"],  # looked up by Id
        UNKNOWN_ID,
    ]
    log = EventLog()
    summary = await download_products(
        items,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=account(sandbox),
        retry=FAST,
        sink=log,
    )

    statuses = [r.status for r in summary.results]
    assert statuses == ["downloaded", "failed", "downloaded", "failed", "downloaded", "failed"]
    names = [r.name for r in summary.results]
    assert names[0] == first["Name"] and names[2] == second["Name"]
    assert names[4] == third["Name"]
    assert "no product named 'S1A_NO_SUCH_PRODUCT.SAFE'" in (summary.results[1].reason or "")
    assert summary.results[3].reason == NO_ID_OR_NAME
    assert f"no product with Id {UNKNOWN_ID}" in (summary.results[5].reason or "")
    assert len(log.of(ItemFailed)) == 3


async def test_burst_results_keep_input_order_and_share_the_rejection(sandbox, tmp_path):
    first, second = sandbox.archive.bursts[:2]
    items = [first["Id"], {"ContentLength": 3}, "not-a-uuid", dict(second)]
    summary = await download_bursts(
        items, tmp_path, endpoints=sandbox.endpoints, credentials=account(sandbox), retry=FAST
    )

    assert [r.status for r in summary.results] == ["downloaded", "failed", "failed", "downloaded"]
    assert summary.results[0].id == first["Id"] and summary.results[3].id == second["Id"]
    assert summary.results[1].reason == NO_ID_OR_NAME
    assert "not a valid UUID" in (summary.results[2].reason or "")


async def test_lookups_run_concurrently_within_the_connection_budget(sandbox):
    names = [p["Name"] for p in sandbox.archive.products[:12]]
    limits = Limits(connections=3, workers=5)
    async with Session(sandbox.endpoints, account(sandbox), limits=limits, retry=FAST) as session:
        intake = await take_in(names, "product", session)
        peak = session.budget.peak

    assert [index for index, _ in intake.records] == list(range(12))
    assert [record["Name"] for _, record in intake.records] == names
    assert 1 < peak <= 3


async def test_a_geodataframe_like_frame_is_read_row_by_row(sandbox):
    rows = [dict(p) for p in sandbox.archive.products[:2]]
    frame = pd.DataFrame(rows)
    assert [r["Id"] for r in to_records(frame)] == [r["Id"] for r in rows]
    async with Session(sandbox.endpoints) as session:
        intake = await take_in(frame, "s3", session)
    assert [index for index, _ in intake.records] == [0, 1] and intake.rejected == []


async def test_items_of_another_type_are_a_usage_error_before_any_request(sandbox):
    async with Session(sandbox.endpoints) as session:
        with pytest.raises(TypeError, match="int"):
            await take_in(["NAME.SAFE", 42], "product", session)


async def test_blank_strings_fail_where_they_stand(sandbox, tmp_path: Path):
    async with Session(sandbox.endpoints) as session:
        intake = await take_in(["  "], "burst", session)
    assert [(i, r.reason) for i, r in intake.rejected] == [(0, "empty item")]
