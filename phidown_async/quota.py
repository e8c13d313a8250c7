"""The connection budget shared by every request of a run (search, products, bursts, S3).

CDSE allows a general user 4 concurrent connections and answers 429 (``DAT-ZIP-100``) or 503
beyond that. The budget hands out at most its *current* limit of slots; a throttle signal
lowers the limit by one and pauses new slots for the server's ``Retry-After``; a run of
successes raises it again, one step at a time, up to the configured limit.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from .errors import ConfigError
from .events import EventSink, QuotaChanged, discard


class ConnectionBudget:
    """At most ``limit`` connections in flight, adapting to the server's throttling.

    Args:
        limit: the configured (maximum) number of concurrent connections.
        sink: receives a `QuotaChanged` event whenever the current limit moves.
        recover_after: consecutive successes needed to raise the limit by one.

    Raises:
        ConfigError: ``limit`` or ``recover_after`` is not a positive integer.

    Example:
        budget = ConnectionBudget(4)
        async with budget.slot():
            response = await client.get(url)
        budget.succeeded()
    """

    def __init__(self, limit: int, sink: EventSink = discard, *, recover_after: int = 8) -> None:
        for name, value in (("limit", limit), ("recover_after", recover_after)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"ConnectionBudget {name} must be a positive integer, got {value!r}"
                )
        self._max = limit
        self._limit = limit
        self._sink = sink
        self._recover_after = recover_after
        self._in_use = 0
        self._peak = 0
        self._streak = 0
        self._paused_until = 0.0
        self._waiters: deque[anyio.Event] = deque()

    @property
    def max_limit(self) -> int:
        """The configured limit the budget recovers to."""
        return self._max

    @property
    def limit(self) -> int:
        """The current limit (lowered by throttling, at least 1)."""
        return self._limit

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self._in_use

    @property
    def peak(self) -> int:
        """The most slots ever held at the same time."""
        return self._peak

    @property
    def paused(self) -> bool:
        """True while new slots wait for a server-requested pause to end."""
        return time.monotonic() < self._paused_until

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one connection slot for the duration of the block (waits for one if needed)."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    def throttle(self, retry_after: float | None = None, reason: str = "throttled") -> None:
        """React to a 429/503: lower the limit by one and pause new slots for ``retry_after`` s.

        Throttles that arrive during the pause of an earlier one (several workers hit by the
        same burst of 429s) extend the pause but lower the limit only once.
        """
        now = time.monotonic()
        self._streak = 0
        in_pause = now < self._paused_until
        if retry_after is not None and retry_after > 0:
            self._paused_until = max(self._paused_until, now + retry_after)
        if in_pause or self._limit == 1:
            return
        self._limit -= 1
        detail = f"{reason}, pausing {retry_after:g} s" if retry_after else reason
        self._sink(QuotaChanged(item="", limit=self._limit, reason=detail))

    def succeeded(self) -> None:
        """Record one successful request; after enough in a row the limit grows by one."""
        self._streak += 1
        if self._streak < self._recover_after or self._limit >= self._max:
            return
        self._streak = 0
        self._limit += 1
        self._sink(QuotaChanged(item="", limit=self._limit, reason="recovered"))
        self._wake()

    async def _acquire(self) -> None:
        while True:
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                await anyio.sleep(pause)
                continue
            if self._in_use < self._limit:
                self._in_use += 1
                self._peak = max(self._peak, self._in_use)
                return
            event = anyio.Event()
            self._waiters.append(event)
            try:
                await event.wait()
            except BaseException:
                # A wake-up delivered to a cancelled waiter must go to the next one,
                # or a free slot would sit unused while others wait.
                if event.is_set():
                    self._wake()
                else:
                    self._waiters.remove(event)
                raise

    def _release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        free = self._limit - self._in_use
        while free > 0 and self._waiters:
            self._waiters.popleft().set()
            free -= 1
