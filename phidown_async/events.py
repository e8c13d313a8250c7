"""Progress and retry events, and the sinks that receive them.

The engine never prints: it emits these frozen events to a sink. The CLI renders them as
progress bars, the facade as phidown-style messages, tests collect them in a list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


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


def to_message(event: Event) -> dict[str, Any]:
    """The event as a plain dict (``{"event": <class name>, **fields}``): what a cluster's
    worker sends to the client (Dask's event log carries msgpack, not objects)."""
    return {"event": type(event).__name__, **asdict(event)}


def from_message(message: Mapping[str, Any]) -> Event:
    """The event that `to_message` made ``message`` of (keys that are not its fields, such
    as the ``worker`` Dask adds, are left out).

    Raises:
        ValueError: ``message`` names no event of this module.
    """
    kind = _KINDS.get(str(message.get("event", "")))
    if kind is None:
        raise ValueError(f"not an event message: {message!r}")
    return kind(**{f.name: message[f.name] for f in fields(kind) if f.name in message})


def discard(_event: Event) -> None:
    """A sink that ignores every event."""


_KINDS: dict[str, type[Event]] = {
    kind.__name__: kind
    for kind in (
        ItemStarted,
        BytesReceived,
        RetryScheduled,
        ItemWaiting,
        ItemVerified,
        ItemSkipped,
        ItemFailed,
        ChecksumIgnored,
        TokenRefreshed,
        QuotaChanged,
    )
}


@dataclass
class EventLog:
    """A sink that keeps every event, for tests and summaries."""

    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Event]:
        """The events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]
