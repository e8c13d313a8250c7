"""What a transfer tells the run while it works: bytes received, ledger progress, retries.

Shared by the HTTP, burst and S3 transfers. Bytes are told in batches (an event per MiB or
half second, a ledger report per 8 MiB or five seconds: each report is a SQLite
transaction), and retries are paced by the run's `RetryPolicy`.
"""

from __future__ import annotations

import time

import anyio

from ..events import BytesReceived, EventSink, RetryScheduled
from ..retry import RetryPolicy
from .pool import ProgressReport

# BytesReceived is an event per this many bytes (or per half second), not per network read.
_EVENT_BYTES = 1 << 20
_EVENT_SECONDS = 0.5
# The ledger hears about progress less often: each report is a SQLite transaction.
_REPORT_BYTES = 8 << 20
_REPORT_SECONDS = 5.0
# Throttling (429) is about the account, not the item: it does not use up the item's tries,
# but an item never takes more than this many times the policy's tries in total.
MAX_TRIES_FACTOR = 4


class ClaimLost(Exception):
    """Another process took the item over (our ledger lease ran out)."""


class ProgressBatches:
    """Turns many small writes into few BytesReceived events and ledger reports.

    Args:
        item: the item's Id (events carry it).
        sink: receives the BytesReceived events.
        report: the pool's progress report for the item.
    """

    def __init__(self, item: str, sink: EventSink, report: ProgressReport) -> None:
        self.item = item
        self.sink = sink
        self.report = report
        self.unsent = self.unreported = 0
        self.last_event = self.last_report = time.monotonic()

    def count(self, size: int) -> None:
        """Note ``size`` more bytes; they are told with the next event and report due."""
        self.unsent += size
        self.unreported += size

    async def tell(self, on_disk: int) -> None:
        """Send the event and the ledger report that are due (by bytes or by time).

        Args:
            on_disk: the item's bytes on disk now (what the ledger records).

        Raises:
            ClaimLost: the ledger says another process holds the item.
        """
        now = time.monotonic()
        if self.unsent >= _EVENT_BYTES or now - self.last_event >= _EVENT_SECONDS:
            self.sink(BytesReceived(item=self.item, count=self.unsent))
            self.unsent, self.last_event = 0, now
        if self.unreported >= _REPORT_BYTES or now - self.last_report >= _REPORT_SECONDS:
            self.unreported, self.last_report = 0, now
            if not await self.report(on_disk):
                raise ClaimLost

    def flush(self) -> None:
        """Send the bytes not told yet in one event."""
        if self.unsent:
            self.sink(BytesReceived(item=self.item, count=self.unsent))
            self.unsent, self.last_event = 0, time.monotonic()


def count_failure(failures: int, *, moved: bool, throttled: bool) -> int:
    """The item's failed tries after one more failed try.

    A try that moved the download forward resets the count (the next try resumes, so the
    tries are not wasted); throttling is about the account and does not count.
    """
    if moved:
        return 0
    return failures if throttled else failures + 1


async def retry_later(
    sink: EventSink,
    item: str,
    policy: RetryPolicy,
    *,
    tries: int,
    failures: int,
    error: BaseException,
    reason: str,
) -> bool:
    """Wait before the item's next try, telling ``sink`` (RetryScheduled).

    Args:
        tries, failures: the item's tries so far and how many of them count as failed.
        error: what the last try raised (its ``Retry-After`` may set the delay).
        reason: the event's reason.

    Returns:
        False, at once, when the item has used up its tries.
    """
    if failures >= policy.attempts or tries >= policy.attempts * MAX_TRIES_FACTOR:
        return False
    delay = policy.delay(max(failures, 1), error)
    sink(RetryScheduled(item=item, attempt=tries, delay=delay, reason=reason))
    await anyio.sleep(delay)
    return True
