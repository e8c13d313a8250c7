"""What the sandbox has served, for tests and benchmarks to read.

The server's event loop writes, the test thread reads: every access takes one lock.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any


class Counters:
    """Thread-safe tallies of requests, grants, sessions, concurrency, bytes and faults.

    Endpoint names used by the sandbox: ``token``, ``search`` (catalogue reads),
    ``product_redirect`` (catalogue ``Products(<id>)/$value``), ``product`` (download host),
    ``burst_redirect``, ``burst``, ``s3_disabled``, ``stats`` and ``other``.

    Example:
        >>> c = Counters(); c.request("product", 200); c.requests("product")
        1
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Live state, not a tally: survives reset() so releases stay balanced.
        self._active: Counter[str] = Counter()
        self._clear()

    def _clear(self) -> None:
        self._requests: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self._grants: Counter[str] = Counter()
        self._user_grants: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._throttled: Counter[str] = Counter()
        self._sessions_opened = 0
        self._sessions_refused = 0
        self._peak: Counter[str] = Counter(self._active)
        self._bytes: Counter[str] = Counter()
        self._resumed: defaultdict[str, list[int]] = defaultdict(list)
        self._faults: Counter[str] = Counter()

    def reset(self) -> None:
        """Zero every tally; downloads in flight stay counted as active."""
        with self._lock:
            self._clear()

    # -- writers (called by the server) -------------------------------------------------

    def request(self, endpoint: str, status: int) -> None:
        """Count one response of ``endpoint`` with HTTP ``status``."""
        with self._lock:
            self._requests[endpoint][status] += 1

    def grant(self, grant_type: str, user: str) -> None:
        """Count one successful token grant (``password`` or ``refresh_token``) of ``user``."""
        with self._lock:
            self._grants[grant_type] += 1
            self._user_grants[user][grant_type] += 1

    def throttled(self, user: str) -> None:
        """Count one 429 answered to ``user`` (over its quota, or injected)."""
        with self._lock:
            self._throttled[user] += 1

    def session_opened(self) -> None:
        with self._lock:
            self._sessions_opened += 1

    def session_refused(self) -> None:
        with self._lock:
            self._sessions_refused += 1

    def download_started(self, user: str) -> None:
        """Mark one more download of ``user`` in flight and update the peak."""
        with self._lock:
            self._active[user] += 1
            self._peak[user] = max(self._peak[user], self._active[user])

    def download_finished(self, user: str) -> None:
        with self._lock:
            self._active[user] -= 1
            if self._active[user] <= 0:
                del self._active[user]

    def served(self, item_id: str, nbytes: int) -> None:
        """Add ``nbytes`` of body sent for product or burst ``item_id``."""
        with self._lock:
            self._bytes[item_id] += nbytes

    def resumed(self, item_id: str, start: int) -> None:
        """Note a ranged download of ``item_id`` that starts at byte ``start`` (> 0)."""
        with self._lock:
            self._resumed[item_id].append(start)

    def fault(self, kind: str) -> None:
        """Count one injected fault of ``kind``."""
        with self._lock:
            self._faults[kind] += 1

    # -- readers ------------------------------------------------------------------------

    def requests(self, endpoint: str, status: int | None = None) -> int:
        """Responses of ``endpoint`` (with ``status`` when given)."""
        with self._lock:
            by_status = self._requests.get(endpoint, Counter())
            return by_status[status] if status is not None else sum(by_status.values())

    def bytes_served(self, item_id: str) -> int:
        with self._lock:
            return self._bytes[item_id]

    def resumes(self) -> dict[str, list[int]]:
        """Start offsets of every download that resumed, by item (206 from a non-zero byte)."""
        with self._lock:
            return {item: list(starts) for item, starts in self._resumed.items()}

    def peak_downloads(self, user: str | None = None) -> int:
        """Highest number of simultaneous downloads of ``user`` (of any user when None)."""
        with self._lock:
            if user is not None:
                return self._peak[user]
            return max(self._peak.values(), default=0)

    def active_downloads(self, user: str | None = None) -> int:
        """Downloads in flight now, of ``user`` or of everybody."""
        with self._lock:
            return self._active[user] if user is not None else sum(self._active.values())

    def stats(self, users: Iterable[str]) -> dict[str, Any]:
        """The ``/_sandbox/stats`` answer: per user (every one of ``users``) its peak of
        simultaneous downloads, password and refresh grants and 429s; bytes served per item."""
        with self._lock:
            return {
                "users": {
                    user: {
                        "peak_downloads": self._peak[user],
                        "password_grants": self._user_grants[user]["password"],
                        "refresh_grants": self._user_grants[user]["refresh_token"],
                        "throttled": self._throttled[user],
                    }
                    for user in users
                },
                "items": dict(self._bytes),
            }

    def snapshot(self) -> dict[str, Any]:
        """Every tally as plain dicts and ints (JSON-friendly apart from int status keys)."""
        with self._lock:
            return {
                "requests": {ep: dict(by) for ep, by in self._requests.items()},
                "token_grants": dict(self._grants),
                "sessions_opened": self._sessions_opened,
                "sessions_refused": self._sessions_refused,
                "active_downloads": dict(self._active),
                "peak_downloads": dict(self._peak),
                "bytes_served": dict(self._bytes),
                "faults": dict(self._faults),
            }
