"""One login per CDSE account for the whole process: the token state sessions share.

Every password grant opens a CDSE session, and an account may hold only 100. A script that
calls the facade in a loop, or a CLI run made of several downloads, opens a new `Session`
each time; sessions that share a `TokenState` (``Session(share_login=True)``) reuse its
access token, and its refresh token when that expires, so the process logs in once.

The state holds tokens only, never the password. It is keyed by token endpoint, OAuth
client, user name and a keyed digest of the password (an HMAC under a random key that lives
only in this process), so a wrong or changed password never picks up another login's tokens.

The state is plain data, usable from any event loop and thread: each token service keeps its
own HTTP client, and the lock that lets one refresh run at a time is per event loop (the
facade's portal and each ``anyio.run`` of the CLI have their own).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field

import anyio
from anyio.lowlevel import RunVar

from .config import Credentials

__all__ = ["TokenState", "shared_state"]

_KEY = secrets.token_bytes(32)
_registry_lock = threading.Lock()
_registry: dict[tuple[str, str, str, bytes], TokenState] = {}


@dataclass(eq=False)
class TokenState:
    """The tokens of one account and when they are due (``time.monotonic`` seconds).

    Attributes:
        access, access_due: the access token and when it is to be renewed.
        refresh, refresh_due: the refresh token and when it stops being usable.
    """

    access: str | None = field(default=None, repr=False)
    access_due: float = 0.0
    refresh: str | None = field(default=None, repr=False)
    refresh_due: float = 0.0
    _locks: RunVar[anyio.Lock] = field(default_factory=lambda: RunVar("token_lock"), repr=False)

    def lock(self) -> anyio.Lock:
        """The lock for renewals on the running event loop (one per loop)."""
        try:
            return self._locks.get()
        except LookupError:
            lock = anyio.Lock()
            self._locks.set(lock)
            return lock


def shared_state(token_url: str, client_id: str, credentials: Credentials) -> TokenState:
    """The process's token state for this account at this endpoint (created on first use)."""
    digest = hmac.new(_KEY, credentials.password.encode(), hashlib.sha256).digest()
    key = (token_url, client_id, credentials.username, digest)
    with _registry_lock:
        return _registry.setdefault(key, TokenState())
