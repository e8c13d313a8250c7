"""Run the async core from synchronous code, including code inside a running event loop.

The facade calls coroutines through one anyio blocking portal: an event loop in a daemon
thread that lives as long as the process. Because the loop is in its own thread, a call works
the same from a plain script and from a Jupyter cell whose own loop is already running.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

T = TypeVar("T")

_lock = threading.Lock()
_portal: BlockingPortal | None = None
_portal_cm: AbstractContextManager[BlockingPortal] | None = None


def _close() -> None:
    global _portal, _portal_cm
    with _lock:
        if _portal_cm is not None:
            _portal_cm.__exit__(None, None, None)
        _portal, _portal_cm = None, None


def portal() -> BlockingPortal:
    """The process-wide portal, started on first use."""
    global _portal, _portal_cm
    with _lock:
        if _portal is None:
            _portal_cm = start_blocking_portal()
            _portal = _portal_cm.__enter__()
            atexit.register(_close)
        return _portal


def run_sync(func: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``await func(*args)`` on the portal's loop and return its result (or raise its error)."""
    return portal().call(func, *args)
