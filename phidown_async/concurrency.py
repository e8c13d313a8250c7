"""Run tasks concurrently; the first failure cancels the rest and is raised as itself.

anyio's task groups raise an ``ExceptionGroup`` whenever a child fails, which callers of this
package would have to unwrap (they catch `ServiceError`, `AuthError`, ...). A
`FirstErrorGroup` keeps anyio's structure (every task ends before the block does) and raises
the first error bare, whether a task or the block's own body raised it.

Example:
    async with FirstErrorGroup() as group:
        group.start_soon(fetch, "a")
        group.start_soon(fetch, "b")
    # both done, or the first error raised after the other was cancelled
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import anyio
import anyio.abc


class FirstErrorGroup:
    """An anyio task group whose first ``Exception`` cancels the others and is re-raised.

    Cancellation and other ``BaseException``s pass through untouched.
    """

    def __init__(self) -> None:
        self._group: anyio.abc.TaskGroup | None = None
        self.error: Exception | None = None

    @property
    def cancel_scope(self) -> anyio.CancelScope:
        """The group's cancel scope (cancel it to stop every task without an error)."""
        assert self._group is not None, "use FirstErrorGroup with 'async with'"
        return self._group.cancel_scope

    def start_soon(self, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start ``func(*args)`` in the group."""
        assert self._group is not None, "use FirstErrorGroup with 'async with'"
        self._group.start_soon(self._guarded, func, args)

    def fail(self, exc: Exception) -> None:
        """Record ``exc`` (unless an error came first) and cancel the group."""
        if self.error is None:
            self.error = exc
        self.cancel_scope.cancel()

    async def _guarded(self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            await func(*args)
        except Exception as exc:
            self.fail(exc)

    async def __aenter__(self) -> FirstErrorGroup:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        if isinstance(exc, Exception):
            self.fail(exc)
            exc_type, exc, tb = None, None, None
        suppressed = await self._group.__aexit__(exc_type, exc, tb)
        if self.error is not None:
            raise self.error
        return suppressed
