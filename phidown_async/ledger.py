"""SQLite ledger: the state of every item of a run, crash-safe and shared by processes.

One row per item (a product, a burst or an S3 product) moving through
``pending -> active -> done | failed``. Every state change is one ``BEGIN IMMEDIATE``
transaction, so several processes (or several runs on one output folder) can share the
file: a claim reads and writes the row while holding SQLite's write lock, hence an item is
never claimed twice. The file is in WAL mode, so readers (``phidown-async ledger``) never
block writers; a reader opens it read-only and needs no write access.

A file that is not a ledger (another program's SQLite database, or not SQLite at all) is
refused before anything is written to it. Every SQLite error becomes a `LedgerError` naming
the file, or a `DiskFullError` when there is no space left.

An ``active`` row names its owner, ``<host>:<pid>:<run id>`` (see `owners.make_owner`), and
carries a heartbeat. It may be claimed again when its owner is a process of this host that
no longer exists, or when the heartbeat is older than the lease: that is how a run resumes
after a crash. A ``done`` row is never claimed, re-added or failed again.

In a run of several accounts, ``account`` names the account that fetched (or last tried)
the item. Ledgers written before that column existed (version 1) gain it when opened for
writing, and read as having none when opened read-only.

Example:
    >>> with Ledger(tmp / "ledger.sqlite") as ledger:          # doctest: +SKIP
    ...     ledger.add([NewItem("a1b2", name="S1A_....SAFE", size=1024)])
    ...     owner = make_owner()
    ...     if ledger.claim("a1b2", owner):
    ...         ledger.done("a1b2", "/data/S1A_....SAFE.zip", 1024, "md5:...")
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .disks import disk_full, is_disk_full
from .errors import LedgerError, PhidownError
from .owners import owner_is_dead
from .redact import scrub_secrets

STATES = ("pending", "active", "done", "failed")
KINDS = ("product", "burst", "s3")
DEFAULT_LEASE = 60.0
# 2: the account column (ledgers of version 1 gain it when opened for writing).
_SCHEMA_VERSION = 2
_MAX_ERROR_CHARS = 4000

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS items (
        id        TEXT PRIMARY KEY,
        kind      TEXT NOT NULL CHECK (kind IN ('product', 'burst', 's3')),
        name      TEXT NOT NULL DEFAULT '',
        state     TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'active', 'done', 'failed')),
        attempts  INTEGER NOT NULL DEFAULT 0,
        bytes     INTEGER NOT NULL DEFAULT 0,
        size      INTEGER,
        checksum  TEXT,
        path      TEXT,
        error     TEXT,
        owner     TEXT,
        heartbeat REAL,
        updated   REAL NOT NULL,
        account   TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS items_state ON items (state)",
    "CREATE INDEX IF NOT EXISTS items_owner ON items (owner)",
)
_BASE_COLUMNS = (
    "id, kind, name, state, attempts, bytes, size, checksum, path, error, owner, heartbeat, updated"
)
_COLUMNS = _BASE_COLUMNS + ", account"


@dataclass(frozen=True)
class NewItem:
    """An item to record as pending (see :meth:`Ledger.add`)."""

    id: str
    kind: str = "product"
    name: str = ""
    size: int | None = None
    checksum: str | None = None


@dataclass(frozen=True)
class LedgerRow:
    """One item's recorded state (times are Unix seconds)."""

    id: str
    kind: str
    name: str
    state: str
    attempts: int
    bytes: int
    size: int | None
    checksum: str | None
    path: str | None
    error: str | None
    owner: str | None
    heartbeat: float | None
    updated: float
    account: str | None = None


@dataclass(frozen=True)
class LedgerSummary:
    """Counts by state, bytes recorded (done sizes plus partial progress), known sizes."""

    pending: int = 0
    active: int = 0
    done: int = 0
    failed: int = 0
    bytes: int = 0
    size: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.active + self.done + self.failed


class Ledger:
    """The SQLite state of every item; open it as a context manager.

    Args:
        path: the database file (created with its folder when missing).
        lease: seconds after which an active row without heartbeat may be reclaimed.
        busy_timeout: seconds to wait for another process's write lock.
        clock: the time source (Unix seconds); a seam for tests.
        readonly: only read: nothing is created or written (no write access needed).

    Raises:
        LedgerError: the file is not a ledger (another program's database, not SQLite,
            damaged, a folder); nothing in it was changed. Every method raises it too
            when SQLite fails.
        DiskFullError: no space left for the ledger.

    All methods are thread-safe and quick (one short transaction); async callers may call
    them directly or through ``anyio.to_thread``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lease: float = DEFAULT_LEASE,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.lease = lease
        self.readonly = readonly
        self._clock = clock
        self._lock = threading.Lock()
        self._columns = _COLUMNS
        with self._errors():
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect(busy_timeout)
        try:
            with self._errors():
                self._prepare(busy_timeout)
        except BaseException:
            self._conn.close()
            raise

    def _connect(self, busy_timeout: float, *, immutable: bool = False) -> sqlite3.Connection:
        target, uri = str(self.path), False
        if self.readonly:
            # mode=ro: never created, never written; immutable: not even the WAL index is
            # (for a folder nobody can write to, e.g. a read-only mount).
            target = self.path.absolute().as_uri() + ("?immutable=1" if immutable else "?mode=ro")
            uri = True
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        conn = sqlite3.connect(
            target, timeout=busy_timeout, isolation_level=None, check_same_thread=False, uri=uri
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        return conn

    def _prepare(self, busy_timeout: float) -> None:
        """Check that the file is a ledger (or empty) before anything is written to it,
        then make it one unless reading only."""
        if self.readonly:
            try:
                self._check(self._conn)
            except sqlite3.OperationalError:
                # Reading a WAL file needs its index beside it; without write access to
                # the folder (or space for it) read the file as it stands.
                self._conn.close()
                self._conn = self._connect(busy_timeout, immutable=True)
                self._check(self._conn)
            if not self._has_account(self._conn):
                # A version 1 ledger read as it stands: it never recorded accounts.
                self._columns = _BASE_COLUMNS + ", NULL"
            return
        self._check(self._conn)
        self._conn.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL never corrupts on a crash; a power cut may lose the last
        # commits, which only means re-verifying those items on the next run.
        self._conn.execute("PRAGMA synchronous = NORMAL")
        with self._write() as conn:
            if self._check(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)
            elif not self._has_account(conn):
                conn.execute("ALTER TABLE items ADD COLUMN account TEXT")
            else:
                return
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @staticmethod
    def _has_account(conn: sqlite3.Connection) -> bool:
        return any(row[1] == "account" for row in conn.execute("PRAGMA table_info(items)"))

    def _check(self, conn: sqlite3.Connection) -> bool:
        """True when the database is empty (a new ledger); False when it is a ledger.

        Raises:
            LedgerError: it is another program's database, or a newer ledger.
        """
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = sorted(
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )
        if not tables and not conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
            return True
        if "items" in tables and version > _SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path} was written by a newer phidown_async (ledger version {version})",
                path=str(self.path),
                problem="a newer ledger",
            )
        if "items" in tables and 0 <= version <= _SCHEMA_VERSION:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
            if columns >= set(_BASE_COLUMNS.split(", ")):
                return False
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise LedgerError(
            f"{self.path} is another program's database (tables: {shown or 'none'}), "
            "not a phidown_async ledger; it was left unchanged: choose another ledger file",
            path=str(self.path),
            problem="not a ledger",
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        # Every SQLite or file-system error of the ledger becomes one clear error.
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(self.path) from exc
            raise LedgerError(
                f"cannot create the folder of the ledger {self.path}: {exc.strerror or exc}",
                path=str(self.path),
                problem="no folder",
            ) from exc

    def _translate(self, exc: sqlite3.Error) -> PhidownError:
        if is_disk_full(exc):
            return disk_full(self.path)
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        where = str(self.path)

        def error(message: str, problem: str) -> LedgerError:
            return LedgerError(message, path=where, problem=problem)

        if self.path.is_dir():
            return error(f"{where} is a folder, not a ledger file", "a folder")
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return error(
                f"{where} is damaged or is not a ledger ({exc}); move it aside and run again "
                "to start a new ledger (files already on disk are checked, not fetched again)",
                "damaged",
            )
        if code == sqlite3.SQLITE_READONLY:
            return error(f"cannot write to the ledger {where} ({exc})", "read-only")
        if code == sqlite3.SQLITE_BUSY:
            return error(f"the ledger {where} stayed locked by another process ({exc})", "locked")
        if code == sqlite3.SQLITE_CANTOPEN:
            return error(f"cannot open the ledger {where} ({exc})", "cannot open")
        return error(f"the ledger {where} cannot be used ({exc})", str(exc))

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so a read-decide-write sequence
        # (claim) cannot interleave with another process's.
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                # SQLite may have rolled back already (a full disk does): the first error
                # is the one to tell, not a failed ROLLBACK.
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._conn

    def add(self, items: Iterable[NewItem]) -> int:
        """Record items as pending, in one transaction.

        An existing row keeps its state; its kind, name, size and checksum are updated
        (given values only) unless it is done, whose record is never changed.

        Returns:
            How many rows were new.

        Raises:
            ValueError: an item has an unknown kind or an empty id.
        """
        batch = list(items)
        for item in batch:
            if not item.id:
                raise ValueError("ledger item id must not be empty")
            if item.kind not in KINDS:
                raise ValueError(f"ledger item kind must be one of {KINDS}, got {item.kind!r}")
        now = self._clock()
        with self._write() as conn:
            before = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            conn.executemany(
                """
                INSERT INTO items (id, kind, name, size, checksum, updated)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET
                    kind = excluded.kind,
                    name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END,
                    size = COALESCE(excluded.size, size),
                    checksum = COALESCE(excluded.checksum, checksum),
                    updated = excluded.updated
                WHERE state != 'done'
                """,
                [(i.id, i.kind, i.name, i.size, i.checksum, now) for i in batch],
            )
            after = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return after - before

    def _reclaimable(self, holder: str | None, heartbeat: float | None, now: float) -> bool:
        if heartbeat is None or now - heartbeat > self.lease:
            return True
        return holder is None or owner_is_dead(holder)

    def claim(self, item_id: str, owner: str) -> bool:
        """Atomically make ``owner`` the one worker of an item.

        A pending or failed row becomes active. An active row is taken over only when its
        owner is a dead process of this host or its heartbeat is older than the lease;
        a row already held by ``owner`` is not claimed twice. A done row is never claimed.

        Returns:
            True when ``owner`` now holds the item.

        Raises:
            KeyError: no such item (it was never added).
        """
        now = self._clock()
        with self._write() as conn:
            row = conn.execute(
                "SELECT state, owner, heartbeat FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None:
                raise KeyError(item_id)
            state, holder, heartbeat = row
            if state == "done":
                return False
            if state == "active" and (
                holder == owner or not self._reclaimable(holder, heartbeat, now)
            ):
                return False
            conn.execute(
                "UPDATE items SET state = 'active', owner = ?, heartbeat = ?, updated = ? "
                "WHERE id = ?",
                (owner, now, now, item_id),
            )
        return True

    def holder(self, item_id: str) -> str | None:
        """The owner holding an item now (active, alive, within its lease), else None."""
        now = self._clock()
        with self._read() as conn:
            row = conn.execute(
                "SELECT state, owner, heartbeat FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        if row is None or row[0] != "active" or self._reclaimable(row[1], row[2], now):
            return None
        return row[1]

    def heartbeat(self, owner: str) -> int:
        """Refresh the heartbeat of every item ``owner`` holds; returns how many."""
        now = self._clock()
        with self._write() as conn:
            return conn.execute(
                "UPDATE items SET heartbeat = ? WHERE state = 'active' AND owner = ?",
                (now, owner),
            ).rowcount

    def _update(self, sql: str, params: tuple[object, ...], owner: str | None) -> bool:
        if owner is not None:
            sql += " AND state = 'active' AND owner = ?"
            params = (*params, owner)
        with self._write() as conn:
            return conn.execute(sql, params).rowcount == 1

    def progress(self, item_id: str, bytes: int, *, owner: str | None = None) -> bool:
        """Record the bytes on disk of an active item (also a heartbeat).

        Args:
            item_id: the item.
            bytes: bytes written so far (the resume point).
            owner: when given, only update if ``owner`` still holds the item.

        Returns:
            False when the item is not active (or no longer held by ``owner``).
        """
        now = self._clock()
        return self._update(
            "UPDATE items SET bytes = ?, heartbeat = ?, updated = ? "
            "WHERE id = ? AND state = 'active'",
            (bytes, now, now, item_id),
            owner,
        )

    def done(
        self,
        item_id: str,
        path: str | os.PathLike[str],
        size: int,
        checksum: str | None,
        *,
        owner: str | None = None,
        account: str | None = None,
    ) -> bool:
        """Mark an item verified and in place; clears its error and owner.

        ``account`` names the account that fetched it (kept as it was when None).

        Returns:
            False when there is no such item (or ``owner`` no longer holds it).
        """
        now = self._clock()
        return self._update(
            "UPDATE items SET state = 'done', path = ?, size = ?, bytes = ?, checksum = ?, "
            "error = NULL, owner = NULL, heartbeat = NULL, updated = ?, "
            "account = COALESCE(?, account) WHERE id = ?",
            (os.fspath(path), size, size, checksum, now, account, item_id),
            owner,
        )

    def failed(
        self,
        item_id: str,
        error: str,
        attempts: int,
        *,
        owner: str | None = None,
        account: str | None = None,
    ) -> bool:
        """Mark an item failed with a reason (secrets scrubbed) and its attempt count.

        A done row is left alone. ``account`` names the account that tried it (kept as it
        was when None).

        Returns:
            False when nothing changed (no such item, done, or not held by ``owner``).
        """
        now = self._clock()
        message = scrub_secrets(str(error))[:_MAX_ERROR_CHARS]
        return self._update(
            "UPDATE items SET state = 'failed', error = ?, attempts = ?, owner = NULL, "
            "heartbeat = NULL, updated = ?, account = COALESCE(?, account) "
            "WHERE id = ? AND state != 'done'",
            (message, attempts, now, account, item_id),
            owner,
        )

    def release(self, item_id: str, *, owner: str | None = None) -> bool:
        """Give an active item back (pending), e.g. on cancel; its bytes stay recorded.

        Returns:
            False when the item was not active (or not held by ``owner``).
        """
        now = self._clock()
        return self._update(
            "UPDATE items SET state = 'pending', owner = NULL, heartbeat = NULL, updated = ? "
            "WHERE id = ? AND state = 'active'",
            (now, item_id),
            owner,
        )

    def release_owner(self, owner: str) -> int:
        """Give back every item ``owner`` still holds (end of a run); returns how many."""
        now = self._clock()
        with self._write() as conn:
            return conn.execute(
                "UPDATE items SET state = 'pending', owner = NULL, heartbeat = NULL, "
                "updated = ? WHERE state = 'active' AND owner = ?",
                (now, owner),
            ).rowcount

    def get(self, item_id: str) -> LedgerRow | None:
        """The item's row, or None."""
        with self._read() as conn:
            sql = f"SELECT {self._columns} FROM items WHERE id = ?"
            row = conn.execute(sql, (item_id,)).fetchone()
        return LedgerRow(*row) if row else None

    def rows(self, state: str | None = None) -> list[LedgerRow]:
        """Every row (in the order added), or those in ``state``.

        Raises:
            ValueError: ``state`` is not one of :data:`STATES`.
        """
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        sql = f"SELECT {self._columns} FROM items"
        params: tuple[str, ...] = ()
        if state is not None:
            sql += " WHERE state = ?"
            params = (state,)
        with self._read() as conn:
            found = conn.execute(sql + " ORDER BY rowid", params).fetchall()
        return [LedgerRow(*row) for row in found]

    def summary(self) -> LedgerSummary:
        """Counts by state, total bytes recorded and total known size."""
        with self._read() as conn:
            found = conn.execute(
                "SELECT state, COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(size), 0) "
                "FROM items GROUP BY state"
            ).fetchall()
        counts = {state: count for state, count, _, _ in found}
        return LedgerSummary(
            **{state: counts.get(state, 0) for state in STATES},
            bytes=sum(row[2] for row in found),
            size=sum(row[3] for row in found),
        )
