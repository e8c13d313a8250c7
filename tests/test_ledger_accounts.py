"""The ledger's account column, and the migration of ledgers written before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from phidown_async.ledger import Ledger, NewItem
from phidown_async.owners import make_owner

# The items table as version 1 of the ledger wrote it (no account column).
VERSION_1 = """
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('product', 'burst', 's3')),
    name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending'
          CHECK (state IN ('pending', 'active', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    size INTEGER, checksum TEXT, path TEXT, error TEXT, owner TEXT, heartbeat REAL,
    updated REAL NOT NULL
);
INSERT INTO items (id, kind, name, state, bytes, size, path, updated)
    VALUES ('old', 'product', 'OLD.SAFE', 'done', 10, 10, '/data/OLD.SAFE.zip', 1.0);
INSERT INTO items (id, kind, name, updated) VALUES ('next', 'product', 'NEXT.SAFE', 1.0);
PRAGMA user_version = 1;
"""


def version_1_ledger(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(VERSION_1)
    conn.close()
    return path


def columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        found = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
    conn.close()
    return found


def test_done_and_failed_record_the_account(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.add([NewItem("a"), NewItem("b"), NewItem("c")])
        owner = make_owner()
        for item in ("a", "b", "c"):
            assert ledger.claim(item, owner)
        assert ledger.done("a", "/x/a.zip", 5, None, owner=owner, account="alice")
        assert ledger.failed("b", "timed out", 3, owner=owner, account="bob")
        assert ledger.done("c", "/x/c.zip", 5, None, owner=owner)
        # Recording the file again without an account keeps who fetched it.
        assert ledger.done("a", "/x/a.zip", 5, None)
        accounts = {row.id: row.account for row in ledger.rows()}
    assert accounts == {"a": "alice", "b": "bob", "c": None}


def test_a_version_1_ledger_reads_as_is_and_gains_the_column_when_written(tmp_path):
    path = version_1_ledger(tmp_path / "old.sqlite")

    with Ledger(path, readonly=True) as reader:
        rows = {row.id: row for row in reader.rows()}
        assert rows["old"].state == "done" and rows["old"].account is None
        assert reader.get("next").account is None
    assert "account" not in columns(path)  # reading changes nothing

    with Ledger(path) as ledger:
        owner = make_owner()
        assert ledger.claim("next", owner)
        assert ledger.done("next", "/data/NEXT.SAFE.zip", 7, None, owner=owner, account="alice")
    assert "account" in columns(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()

    with Ledger(path, readonly=True) as reader:
        rows = {row.id: row for row in reader.rows()}
    assert rows["old"].path == "/data/OLD.SAFE.zip" and rows["old"].account is None
    assert rows["next"].account == "alice"
