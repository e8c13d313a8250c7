"""The lowest-speed rule: a body arriving too slowly is abandoned, and the next try resumes.

A read timeout is per read: a server that sends two bytes a second, or keeps the
connection open and sends nothing while a read is parked on it, can hold a worker for
hours. Like curl's ``--speed-limit``/``--speed-time`` and aria2's ``--lowest-speed-limit``,
a body that brings fewer than ``lowest_speed * speed_time`` bytes in the last
``speed_time`` seconds (`config.Limits`) is abandoned with `TooSlow`, a `tries.Retry`: the
next try resumes from the part file. HTTPS products, bursts and S3 objects share this one
watch.

A watcher task looks at the byte count a few times per window, so reading costs nothing
but an addition per network chunk; when the count falls short it cancels the network read
in progress (`SpeedWatch.reading`), never a write, so every byte received can be kept.

Example:
    async with watch_speed(limits) as speed:
        with speed.reading():
            chunk = await body.read(size)
        speed.received += len(chunk)
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio

from ..concurrency import FirstErrorGroup
from ..config import Limits
from .tries import Retry

#: The watcher looks this many times per window: a stall is caught within 1.1 windows.
_LOOKS_PER_WINDOW = 10


class TooSlow(Retry):
    """The body arrived slower than the lowest speed for the whole window."""


def _rate_text(rate: float) -> str:
    if rate < 1000:
        return f"{rate:g} B/s"
    if rate < 1_000_000:
        return f"{rate / 1000:.1f} KB/s"
    return f"{rate / 1_000_000:.1f} MB/s"


class SpeedWatch:
    """The lowest-speed rule over one body (see the module docstring).

    Args:
        rate: the lowest speed in bytes/s (0: no rule).
        window: seconds the speed may stay below ``rate`` (0: no rule).

    Attributes:
        received: bytes of the body read so far; the reader adds each chunk to it.
    """

    def __init__(self, rate: int, window: float) -> None:
        self.rate = rate
        self.window = window
        self.received = 0
        self._slow = False
        self._read: anyio.CancelScope | None = None

    @property
    def active(self) -> bool:
        return self.rate > 0 and self.window > 0

    @property
    def reason(self) -> str:
        return f"the server sent slower than {_rate_text(self.rate)} for {self.window:g} s"

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Around network reads: cancels them when the body is found too slow.

        Raises:
            TooSlow: the body was found too slow, during these reads or before them.
        """
        if self._slow:
            raise TooSlow(self.reason)
        if not self.active:
            yield
            return
        with anyio.CancelScope() as scope:
            self._read = scope
            try:
                yield
            finally:
                self._read = None
        # A read that finished before the cancel landed keeps its bytes; the next one raises.
        if scope.cancelled_caught:
            raise TooSlow(self.reason)

    async def watch(self) -> None:
        """Look at the byte count every tenth of a window; returns when it fell short."""
        step = self.window / _LOOKS_PER_WINDOW
        counts = deque([self.received], maxlen=_LOOKS_PER_WINDOW + 1)
        start = anyio.current_time()
        looks = 0
        while True:
            looks += 1
            # Absolute times: a late wake-up does not stretch the window.
            await anyio.sleep_until(start + looks * step)
            counts.append(self.received)
            full = len(counts) > _LOOKS_PER_WINDOW
            if full and counts[-1] - counts[0] < self.rate * self.window:
                self._slow = True
                if self._read is not None:
                    self._read.cancel()
                return


@asynccontextmanager
async def watch_speed(limits: Limits) -> AsyncIterator[SpeedWatch]:
    """A `SpeedWatch` with the rule of ``limits``, watching while the block runs."""
    speed = SpeedWatch(limits.lowest_speed, limits.speed_time)
    if not speed.active:
        yield speed
        return
    async with FirstErrorGroup() as group:
        group.start_soon(speed.watch)
        yield speed
        group.cancel_scope.cancel()
