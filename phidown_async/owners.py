"""Who holds a ledger item: an owner id per run of a process, and whether it still lives.

An owner id is ``<host>:<pid>:<run id>``; a row held by a process of this host that no
longer exists may be claimed again at once (`owner_is_dead`), others only when their lease
runs out.
"""

from __future__ import annotations

import os
import socket
import uuid


def make_owner(run_id: str | None = None) -> str:
    """An owner id for this process: ``<host>:<pid>:<run id>`` (random run id by default)."""
    return f"{socket.gethostname()}:{os.getpid()}:{run_id or uuid.uuid4().hex[:12]}"


def describe_owner(owner: str) -> str:
    """An owner id for people: ``another process (PID 4242)`` (``on <host>`` when remote)."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return "another process"
    host = "" if parts[0] == socket.gethostname() else f" on {parts[0]}"
    return f"another process (PID {parts[1]}{host})"


def owner_is_dead(owner: str) -> bool:
    """True only when ``owner`` is a process of this host that no longer exists."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    # On Windows os.kill(pid, 0) would terminate the process: rely on the lease there.
    if os.name == "nt":
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        # PermissionError: the pid exists under another user; anything else: unknown.
        return False
    return False
