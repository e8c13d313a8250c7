"""Engine events as `logging` records, under the ``phidown_async`` logger.

`LoggingSink` is an event sink for programs that log instead of drawing progress: each
event becomes one record of the ``phidown_async.events`` logger, at a level that says how
much it matters (bytes DEBUG, starts and outcomes INFO, retries and throttling WARNING,
failures ERROR). The record carries the event itself as ``record.event``. The library
configures no handlers: records go wherever the application's logging sends them.

Example:
    >>> import logging
    >>> logging.basicConfig(level=logging.INFO)
    >>> sink = LoggingSink()
    >>> # await download_products(items, "data/", sink=sink)
"""

from __future__ import annotations

import logging

from .events import (
    BytesReceived,
    ChecksumIgnored,
    Event,
    ItemFailed,
    ItemSkipped,
    ItemStarted,
    ItemVerified,
    ItemWaiting,
    QuotaChanged,
    RetryScheduled,
    TokenRefreshed,
)

__all__ = ["EVENTS_LOGGER", "LoggingSink", "describe"]

EVENTS_LOGGER = "phidown_async.events"


def _size(count: int | None) -> str:
    return "unknown size" if count is None else f"{count} bytes"


def describe(event: Event, name: str = "") -> tuple[int, str]:
    """The logging level and message for ``event``; ``name`` labels its item (else its Id)."""
    label = name or event.item or "(no id)"
    if isinstance(event, BytesReceived):
        return logging.DEBUG, f"{label}: received {event.count} bytes"
    if isinstance(event, ItemStarted):
        resumed = f", resuming at {event.resume_from}" if event.resume_from else ""
        return logging.INFO, f"started {label} ({_size(event.total_bytes)}{resumed})"
    if isinstance(event, ItemVerified):
        return logging.INFO, f"verified {label} ({event.size} bytes) at {event.path}"
    if isinstance(event, ItemSkipped):
        return logging.INFO, f"skipped {label}: {event.reason}"
    if isinstance(event, ItemWaiting):
        return logging.INFO, f"waiting for {label}: held by {event.holder}"
    if isinstance(event, RetryScheduled):
        return (
            logging.WARNING,
            f"retrying {label} in {event.delay:.1f} s (try {event.attempt}): {event.reason}",
        )
    if isinstance(event, ItemFailed):
        return (
            logging.ERROR,
            f"failed {label} after {event.attempts} tries: {event.reason}",
        )
    if isinstance(event, ChecksumIgnored):
        return (
            logging.WARNING,
            f"{label}: catalogue {event.algorithm} checksum ignored: {event.reason}",
        )
    if isinstance(event, QuotaChanged):
        return logging.WARNING, f"connections now {event.limit}: {event.reason}"
    if isinstance(event, TokenRefreshed):
        return logging.DEBUG, f"token renewed ({event.grant} grant)"
    return logging.DEBUG, f"{type(event).__name__} {label}"


class LoggingSink:
    """An event sink that logs each event (see the module docstring for the levels).

    Args:
        logger: where records go (default: the ``phidown_async.events`` logger).
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(EVENTS_LOGGER)
        # Later events carry only the Id; the name of ItemStarted labels them.
        self._names: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, ItemStarted) and event.name:
            self._names[event.item] = event.name
        if isinstance(event, BytesReceived) and not self.logger.isEnabledFor(logging.DEBUG):
            return  # the most frequent event: no message built for nothing
        level, message = describe(event, self._names.get(event.item, ""))
        self.logger.log(level, message, extra={"event": event})
        if isinstance(event, ItemVerified | ItemSkipped | ItemFailed):
            self._names.pop(event.item, None)
