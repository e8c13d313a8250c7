"""What a transfer tells the run while it works: bytes received and ledger progress.

Shared by the HTTP, burst and S3 transfers. Bytes are told in batches (an event per MiB or
half second, a ledger report per 64 MiB or five seconds: each report is a SQLite
transaction).
"""

from __future__ import annotations

import time

from ..events import BytesReceived, EventSink
from .pool import ProgressReport

# BytesReceived is an event per this many bytes (or per half second), not per network read.
_EVENT_BYTES = 1 << 20
_EVENT_SECONDS = 0.5
# The ledger hears about progress less often: each report is a SQLite transaction.
_REPORT_BYTES = 64 << 20
_REPORT_SECONDS = 5.0


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
