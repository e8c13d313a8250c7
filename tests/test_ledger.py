"""The SQLite ledger on a real file, shared by real processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from phidown_async.errors import ConfigError, LedgerError
from phidown_async.ledger import Ledger, LedgerSummary, NewItem
from phidown_async.owners import make_owner
from phidown_async.redact import scrub_secrets

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT = 30


def _items(count: int, kind: str = "product") -> list[NewItem]:
    return [
        NewItem(f"id-{i:03d}", kind=kind, name=f"P{i}.SAFE", size=1000 + i) for i in range(count)
    ]


def _race(db: str, ids: list[str], barrier, out: str) -> None:
    """Claim every id with this process's owner; stay alive until the rival is done too."""
    owner = make_owner()
    with Ledger(db) as ledger:
        barrier.wait(timeout=JOIN_TIMEOUT)
        won = []
        for item_id in ids:
            if ledger.claim(item_id, owner):
                won.append(item_id)
            # Yield the CPU so both processes contend for every item, not one for all.
            time.sleep(0.001)
        # Exiting early would make this owner a dead process, whose rows may be reclaimed.
        barrier.wait(timeout=JOIN_TIMEOUT)
    Path(out).write_text("\n".join(won))


def _claim_and_vanish(db: str, ids: list[str]) -> None:
    """Claim items, then exit without releasing them (a crashed run)."""
    with Ledger(db) as ledger:
        owner = make_owner()
        for item_id in ids:
            assert ledger.claim(item_id, owner)


def _run(process) -> None:
    process.start()
    process.join(JOIN_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join(5)
        pytest.fail("ledger worker process did not finish in time")
    assert process.exitcode == 0


def test_two_processes_racing_claim_each_item_exactly_once(tmp_path):
    db = str(tmp_path / "ledger.sqlite")
    with Ledger(db) as ledger:
        ledger.add(_items(50))
    ids = [f"id-{i:03d}" for i in range(50)]
    barrier = SPAWN.Barrier(2)
    outs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    procs = [SPAWN.Process(target=_race, args=(db, ids, barrier, str(out))) for out in outs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(JOIN_TIMEOUT)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    assert [proc.exitcode for proc in procs] == [0, 0]
    won = [set(filter(None, out.read_text().splitlines())) for out in outs]
    assert won[0].isdisjoint(won[1])
    assert won[0] | won[1] == set(ids)
    with Ledger(db) as ledger:
        active = ledger.rows("active")
        assert len(active) == 50
        assert len({row.owner for row in active}) == len([w for w in won if w])


def test_rows_of_a_dead_process_are_reclaimable(tmp_path):
    db = str(tmp_path / "ledger.sqlite")
    with Ledger(db) as ledger:
        ledger.add(_items(5))
    _run(SPAWN.Process(target=_claim_and_vanish, args=(db, ["id-000", "id-001"])))
    with Ledger(db) as ledger:
        dead_owner = ledger.get("id-000").owner
        assert ledger.get("id-000").state == "active"
        survivor = make_owner()
        assert ledger.claim("id-000", survivor)
        assert ledger.claim("id-001", survivor)
        assert ledger.get("id-000").owner == survivor
        assert dead_owner != survivor
        # A live owner (this process) keeps its rows within the lease.
        assert not ledger.claim("id-000", make_owner())
        assert not ledger.claim("id-000", survivor)


def test_stale_heartbeat_of_a_remote_owner_expires_after_the_lease(tmp_path):
    now = [1000.0]
    remote = "other-host.example:4242:run1"
    with Ledger(tmp_path / "l.sqlite", lease=60, clock=lambda: now[0]) as ledger:
        ledger.add(_items(1))
        assert ledger.claim("id-000", remote)
        now[0] = 1050.0
        assert not ledger.claim("id-000", make_owner())
        assert ledger.heartbeat(remote) == 1
        now[0] = 1100.0  # 50 s after the heartbeat: still leased
        assert not ledger.claim("id-000", make_owner())
        now[0] = 1111.0  # 61 s after the heartbeat: expired
        taker = make_owner()
        assert ledger.claim("id-000", taker)
        assert ledger.get("id-000").owner == taker
        # The old owner lost the item: its progress and completion are refused.
        assert not ledger.progress("id-000", 10, owner=remote)
        assert not ledger.done("id-000", "/x", 1000, "md5", owner=remote)
        assert ledger.progress("id-000", 10, owner=taker)
        assert ledger.get("id-000").bytes == 10


def test_done_rows_are_never_reclaimed_readded_or_failed(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add(_items(2))
        owner = make_owner()
        assert ledger.claim("id-000", owner)
        assert ledger.done("id-000", tmp_path / "P0.SAFE.zip", 1000, "md5:abc", owner=owner)
        assert not ledger.claim("id-000", make_owner())
        assert ledger.add([NewItem("id-000", name="renamed", size=5)]) == 0
        assert not ledger.failed("id-000", "late failure", 3)
        assert not ledger.release("id-000")
        row = ledger.get("id-000")
        assert (row.state, row.name, row.size, row.bytes) == ("done", "P0.SAFE", 1000, 1000)
        assert row.path == str(tmp_path / "P0.SAFE.zip")
        assert row.checksum == "md5:abc"
        assert row.owner is None and row.error is None


def test_failed_and_released_rows_can_be_claimed_again(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add(_items(2))
        owner = make_owner()
        assert ledger.claim("id-000", owner)
        assert ledger.failed("id-000", "HTTP 500", 3, owner=owner)
        assert ledger.get("id-000").attempts == 3
        assert ledger.claim("id-000", owner)
        assert ledger.claim("id-001", owner)
        assert ledger.release("id-001")
        assert ledger.get("id-001").state == "pending"
        assert ledger.claim("id-001", make_owner())
        assert ledger.release_owner(owner) == 1
        assert ledger.get("id-000").state == "pending"
        with pytest.raises(KeyError):
            ledger.claim("never-added", owner)


def test_add_upserts_without_changing_state(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.add(_items(3)) == 3
        owner = make_owner()
        ledger.claim("id-001", owner)
        assert ledger.add([*_items(4), NewItem("b-1", kind="burst")]) == 2
        assert ledger.get("id-001").state == "active"
        assert ledger.get("b-1").kind == "burst"
        assert [row.id for row in ledger.rows()] == ["id-000", "id-001", "id-002", "id-003", "b-1"]
        with pytest.raises(ValueError, match="kind"):
            ledger.add([NewItem("x", kind="video")])
        with pytest.raises(ValueError, match="state"):
            ledger.rows("finished")


def test_summary_counts_states_and_bytes(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.add(_items(6))
        owner = make_owner()
        for item_id in ("id-000", "id-001", "id-002", "id-003"):
            ledger.claim(item_id, owner)
        ledger.done("id-000", "/out/P0.zip", 1000, None)
        ledger.done("id-001", "/out/P1.zip", 1001, None)
        ledger.failed("id-002", "boom", 2)
        ledger.progress("id-003", 400)
    with Ledger(path) as reopened:  # state survives closing the file
        summary = reopened.summary()
    assert summary == LedgerSummary(
        pending=2,
        active=1,
        done=2,
        failed=1,
        bytes=1000 + 1001 + 400,
        size=sum(1000 + i for i in range(6)),
    )
    assert summary.total == 6


def test_secrets_are_scrubbed_from_stored_errors(tmp_path):
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl"
    message = (
        f"401 Unauthorized; Authorization: Bearer {jwt}; "
        "url=https://download.example/odata/v1/Products(1)/$value?token=SECRETQS&x=1; "
        'body={"access_token": "SECRETJSON", "refresh_token":"SECRETREFRESH"} '
        "password=hunter2 stray " + jwt
    )
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add(_items(1))
        ledger.failed("id-000", message, 1)
        stored = ledger.get("id-000").error
    for secret in (jwt, "SECRETQS", "SECRETJSON", "SECRETREFRESH", "hunter2", "eyJ"):
        assert secret not in stored
    assert stored.startswith("401 Unauthorized; Authorization: Bearer [redacted]")
    assert "x=1" in stored
    assert scrub_secrets("DAT-ZIP-604 Token not found") == "DAT-ZIP-604 Token not found"


def test_a_file_that_is_not_a_ledger_is_a_config_error(tmp_path):
    bogus = tmp_path / "notes.sqlite"
    bogus.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="is not a ledger"):
        Ledger(bogus)
    assert bogus.read_bytes() == b"this is not a database" * 100


def test_another_programs_database_is_refused_and_left_unchanged(tmp_path):
    other = tmp_path / "photos.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT)")
    conn.execute("INSERT INTO albums (title) VALUES ('Dolomites')")
    conn.commit()
    conn.close()
    before = other.read_bytes()

    with pytest.raises(LedgerError, match="another program's database") as raised:
        Ledger(other)

    assert raised.value.problem == "not a ledger"
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.sqlite"]  # no -wal, no -shm


def _damage(path: Path) -> None:
    """Overwrite one page in the middle of the file with garbage (as a bad disk would)."""
    page = 4096
    with open(path, "r+b") as handle:
        handle.seek(page)  # page 2: the root of the items table
        handle.write(b"\xde\xad\xbe\xef" * (page // 4))


def test_a_damaged_ledger_fails_every_call_with_one_clear_error(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.add(_items(300))
    _damage(path)

    with pytest.raises(LedgerError, match="move it aside") as raised, Ledger(path) as ledger:
        ledger.rows()
    assert raised.value.problem == "damaged"
    assert raised.value.path == str(path)


def test_a_folder_is_not_a_ledger(tmp_path):
    with pytest.raises(LedgerError, match="is a folder, not a ledger file"):
        Ledger(tmp_path)


def test_reading_writes_nothing(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.add(_items(3))
    before = path.read_bytes()

    with Ledger(path, readonly=True) as ledger:
        assert ledger.summary().pending == 3
        with pytest.raises(LedgerError, match="cannot write"):
            ledger.claim("id-000", make_owner())

    assert path.read_bytes() == before
    with pytest.raises(LedgerError, match="cannot open"):
        Ledger(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_ledger_opens_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "l.sqlite"
    with Ledger(path):
        pass
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
