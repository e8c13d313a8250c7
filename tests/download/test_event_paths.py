"""Every path an event carries is absolute, products and bursts alike, from a relative folder."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from phidown_async import (
    Credentials,
    EventLog,
    ItemVerified,
    Search,
    Session,
    download_bursts,
    download_products,
)
from phidown_async.retry import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05, jitter=0.0)

pytestmark = pytest.mark.reads_only


def _paths(log: EventLog) -> list[str]:
    """Every ``path`` field of every event."""
    return [
        getattr(event, field.name)
        for event in log.events
        for field in dataclasses.fields(event)
        if field.name == "path"
    ]


async def _fetch(sandbox, kind: str, log: EventLog, out: str):
    config = sandbox.config
    credentials = Credentials(config.username, config.password)
    async with Session(sandbox.endpoints, credentials, retry=FAST_RETRY, sink=log) as session:
        if kind == "products":
            found = Search(session, collection_name="SENTINEL-1", top=2, all_pages=False)
            return await download_products(await found.frame(), out, session=session, sink=log)
        bursts = Search(
            session, burst_mode=True, start_date="2000-01-01T00:00:00Z", top=2, all_pages=False
        )
        return await download_bursts(await bursts.frame(), out, session=session, sink=log)


@pytest.mark.parametrize("kind", ["products", "bursts"])
async def test_event_paths_are_absolute(small_sandbox, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    log = EventLog()
    summary = await _fetch(small_sandbox, kind, log, "relative/out")
    assert [r.status for r in summary.results] == ["downloaded"] * 2, summary.results
    paths = _paths(log)
    assert len(log.of(ItemVerified)) == len(paths) == 2
    for path in paths:
        assert os.path.isabs(path), path
        assert Path(path).is_file()
        assert Path(path).parent == tmp_path / "relative" / "out"
    # Events come as items finish, results in input order: the same paths either way.
    assert sorted(str(result.path) for result in summary.results) == sorted(paths)
