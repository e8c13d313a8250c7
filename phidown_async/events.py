"""Progress and retry events, and the sinks that receive them.

The engine never prints: it emits these frozen events to a sink. The CLI renders them as
progress bars, the facade as phidown-style messages, tests collect them in a list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Base of all events; ``item`` is the product or burst Id (empty for run-level events)."""

    item: str


@dataclass(frozen=True)
class ItemStarted(Event):
    name: str
    total_bytes: int | None
    resume_from: int = 0


@dataclass(frozen=True)
class BytesReceived(Event):
    count: int


@dataclass(frozen=True)
class RetryScheduled(Event):
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True)
class ItemWaiting(Event):
    """Another process holds the item; the run waits for it to finish or let go."""

    holder: str  # e.g. "another process (PID 4242)"


@dataclass(frozen=True)
class ItemVerified(Event):
    path: str
    size: int


@dataclass(frozen=True)
class ItemSkipped(Event):
    reason: str


@dataclass(frozen=True)
class ItemFailed(Event):
    reason: str
    attempts: int


@dataclass(frozen=True)
class ChecksumIgnored(Event):
    """The catalogue's checksum of an item is malformed; the item's contents are checked
    member by member instead."""

    algorithm: str
    reason: str


@dataclass(frozen=True)
class TokenRefreshed(Event):
    grant: str  # "password" or "refresh_token"


@dataclass(frozen=True)
class QuotaChanged(Event):
    limit: int
    reason: str


EventSink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """A sink that ignores every event."""


@dataclass
class EventLog:
    """A sink that keeps every event, for tests and summaries."""

    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Event]:
        """The events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]
