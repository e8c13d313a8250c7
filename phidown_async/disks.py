"""A full disk: telling it apart from other write errors, and naming the file system.

A full disk (or quota) is not one item's failure: every later write fails too, so the run
stops with `DiskFullError` and keeps its partial files for the next run.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from .errors import DiskFullError

_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` says the disk or the quota is full (``ENOSPC``, ``EDQUOT``,
    SQLite's "database or disk is full")."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
    return False


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point of the file system holding ``path`` (``path`` itself when unknown)."""
    start = Path(os.path.abspath(path))
    try:
        here = start
        while not here.exists() and here.parent != here:
            here = here.parent
        device = here.stat().st_dev
        while here.parent != here and here.parent.stat().st_dev == device:
            here = here.parent
    except OSError:
        return start
    return here


def disk_full(path: str | os.PathLike[str], pending: int | None = None) -> DiskFullError:
    """The `DiskFullError` for a write under ``path`` that found no space."""
    return DiskFullError(str(mount_point(path)), pending=pending)
