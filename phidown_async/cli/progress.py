"""Download progress rendered from engine events: a live display on a terminal, log lines elsewhere.

`RunProgress` is the event sink: it keeps score (items done, failed, retrying, active; bytes;
rate) and is safe to read from rich's refresh thread while the event loop writes to it.
`LiveDisplay` draws it on a terminal (overall bar with bytes, rate and ETA, then one line per
active item); `LogLines` writes one plain line per notable event and a progress line now
and then, for logs and pipes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..events import (
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
)
from .console import format_bytes, format_seconds

# The rate is measured over this many recent seconds: long enough to be steady, short
# enough to follow a throttled connection.
RATE_WINDOW = 5.0
ACTIVE_LINES = 8
LOG_EVERY = 10.0


@dataclass
class _Item:
    name: str
    total: int | None = None
    on_disk: int = 0
    retrying: str | None = None


@dataclass(frozen=True)
class ActiveItem:
    """One item being fetched, as shown on its progress line."""

    name: str
    on_disk: int
    total: int | None
    retrying: str | None


@dataclass(frozen=True)
class Snapshot:
    """The state of a run at one moment."""

    items: int
    done: int
    skipped: int
    failed: int
    retrying: int
    active: tuple[ActiveItem, ...]
    bytes_done: int
    bytes_total: int | None
    received: int
    rate: float
    elapsed: float
    budget: int | None = None

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, None when it cannot be told."""
        if self.bytes_total is None or self.rate <= 0:
            return None
        return max(0.0, self.bytes_total - self.bytes_done) / self.rate


@dataclass
class RunProgress:
    """Keeps score of a download run from its events; use an instance as the event sink.

    Args:
        items: how many items the run has.
        sizes: expected sizes by item Id, when known before the run (catalogue sizes).
        names: display names by item Id, when known.
        clock: monotonic seconds (a seam for tests).
        listeners: called with every event after it was counted (the log renderer).
    """

    items: int
    sizes: Mapping[str, int] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    listeners: list[Callable[[Event, Snapshot], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._started = self.clock()
        self._known = {k: v for k, v in self.sizes.items() if v}
        self._names = dict(self.names)
        self._active: dict[str, _Item] = {}
        self._done_bytes = 0
        self._received = 0
        self._recent: deque[tuple[float, int]] = deque()
        self._counts = {"done": 0, "skipped": 0, "failed": 0}
        self._closed: set[str] = set()
        self._budget: int | None = None

    def name(self, item: str) -> str:
        """The display name of ``item`` (its Id when no name is known)."""
        with self._lock:
            return self._names.get(item) or item or "(no id)"

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._count(event)
            snapshot = self._snapshot()
        for listener in self.listeners:
            listener(event, snapshot)

    def _count(self, event: Event) -> None:
        item = event.item
        if isinstance(event, ItemStarted):
            self._names[item] = event.name or self._names.get(item, item)
            total = event.total_bytes or self._known.get(item)
            if total:
                self._known[item] = total
            self._active[item] = _Item(self._names[item], total, event.resume_from)
        elif isinstance(event, BytesReceived):
            self._received += event.count
            now = self.clock()
            self._recent.append((now, event.count))
            entry = self._active.get(item)
            if entry is not None:
                entry.on_disk += event.count
                entry.retrying = None
        elif isinstance(event, RetryScheduled):
            entry = self._active.setdefault(item, _Item(self._names.get(item, item)))
            entry.retrying = event.reason
        elif isinstance(event, ItemVerified | ItemSkipped | ItemFailed):
            self._finish(event)
        elif isinstance(event, QuotaChanged):
            self._budget = event.limit

    def _finish(self, event: Event) -> None:
        item = event.item
        self._active.pop(item, None)
        if item and item in self._closed:
            return  # one outcome per item
        if item:
            self._closed.add(item)
        if isinstance(event, ItemVerified):
            self._counts["done"] += 1
            self._known[item] = event.size
            self._done_bytes += event.size
        elif isinstance(event, ItemSkipped):
            self._counts["skipped"] += 1
            self._known.pop(item, None)  # nothing to fetch: out of the byte total
        else:
            self._counts["failed"] += 1
            self._known.pop(item, None)

    def _rate(self, now: float) -> float:
        while self._recent and now - self._recent[0][0] > RATE_WINDOW:
            self._recent.popleft()
        if not self._recent:
            return 0.0
        span = max(now - self._recent[0][0], min(RATE_WINDOW, now - self._started), 0.5)
        return sum(count for _, count in self._recent) / span

    def _total(self) -> int | None:
        """Expected bytes of the items that will be fetched; unknown sizes are estimated."""
        outstanding = self.items - self._counts["skipped"] - self._counts["failed"]
        if not self._known:
            return None
        average = sum(self._known.values()) / len(self._known)
        missing = max(0, outstanding - len(self._known))
        return int(sum(self._known.values()) + missing * average)

    def _snapshot(self) -> Snapshot:
        now = self.clock()
        active = tuple(
            ActiveItem(
                e.name, min(e.on_disk, e.total) if e.total else e.on_disk, e.total, e.retrying
            )
            for e in self._active.values()
        )
        in_flight = sum(a.on_disk for a in active)
        return Snapshot(
            items=self.items,
            done=self._counts["done"],
            skipped=self._counts["skipped"],
            failed=self._counts["failed"],
            retrying=sum(1 for a in active if a.retrying),
            active=active,
            bytes_done=self._done_bytes + in_flight,
            bytes_total=self._total(),
            received=self._received,
            rate=self._rate(now),
            elapsed=now - self._started,
            budget=self._budget,
        )

    def snapshot(self) -> Snapshot:
        """The state now."""
        with self._lock:
            return self._snapshot()


def _bar(done: float, total: float | None, width: int | None = None) -> ProgressBar:
    return ProgressBar(total=total or None, completed=done, width=width)


def bytes_line(snap: Snapshot) -> str:
    """Bytes, rate and ETA of the whole run."""
    total = f" of {format_bytes(snap.bytes_total)}" if snap.bytes_total else ""
    return (
        f"{format_bytes(snap.bytes_done)}{total} · {format_bytes(snap.rate)}/s · "
        f"ETA {format_seconds(snap.eta)}"
    )


def items_line(snap: Snapshot) -> str:
    """Item counts of the whole run."""
    parts = [
        f"{snap.finished}/{snap.items} items",
        f"done {snap.done}",
        f"failed {snap.failed}",
        f"retrying {snap.retrying}",
        f"active {len(snap.active)}",
    ]
    if snap.skipped:
        parts.append(f"already there {snap.skipped}")
    if snap.budget is not None:  # the connection budget moved after a 429/503
        parts.append(f"connections {snap.budget}")
    return " · ".join(parts)


def overall_line(snap: Snapshot) -> str:
    """One line of text with the whole run's progress."""
    return f"{items_line(snap)} · {bytes_line(snap)}"


class LiveDisplay:
    """The live terminal view of a `RunProgress` (a rich renderable; use `live()`)."""

    def __init__(self, progress: RunProgress, console: Console, title: str = "Downloading") -> None:
        self.progress = progress
        self.console = console
        self.title = title

    def __rich__(self) -> RenderableType:
        snap = self.progress.snapshot()
        bar = max(10, min(30, self.console.width // 5))
        head = Table.grid(padding=(0, 1))
        head.add_column(no_wrap=True, min_width=len(self.title))
        head.add_column(width=bar)
        head.add_column(no_wrap=True, overflow="ellipsis")
        total = snap.bytes_total
        percent = f"{min(100.0, 100 * snap.bytes_done / total):3.0f}%" if total else "   "
        head.add_row(
            Text(self.title, style="bold"),
            _bar(snap.bytes_done, total, bar),
            Text(f"{percent} {bytes_line(snap)}"),
        )
        head.add_row("", "", Text(items_line(snap), style="dim" if not snap.failed else "red"))
        lines = Table.grid(padding=(0, 1))
        lines.add_column(no_wrap=True, overflow="ellipsis", max_width=60)
        lines.add_column(width=20)
        lines.add_column(no_wrap=True)
        for active in snap.active[:ACTIVE_LINES]:
            status = (
                Text(f"retrying: {active.retrying}", style="yellow")
                if active.retrying
                else Text(f"{format_bytes(active.on_disk)} / {format_bytes(active.total)}")
            )
            lines.add_row(Text(f"  {active.name}"), _bar(active.on_disk, active.total, 20), status)
        if len(snap.active) > ACTIVE_LINES:
            lines.add_row(Text(f"  … and {len(snap.active) - ACTIVE_LINES} more"), "", "")
        return Group(head, lines)

    def live(self) -> Live:
        """A rich Live context that redraws this view a few times a second."""
        return Live(self, console=self.console, refresh_per_second=4, transient=True)


class LogLines:
    """Plain log lines for a `RunProgress`: one per outcome, retry and start, plus a periodic
    progress line (for pipes, files and CI logs)."""

    def __init__(
        self,
        progress: RunProgress,
        stream: TextIO,
        every: float = LOG_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.progress = progress
        self.stream = stream
        self.every = every
        self.clock = clock
        self._last = clock()
        progress.listeners.append(self)

    def _write(self, text: str) -> None:
        self.stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self.stream.flush()

    def __call__(self, event: Event, snap: Snapshot) -> None:
        name = self.progress.name(event.item)
        where = f"[{snap.finished}/{snap.items}]"
        if isinstance(event, ItemStarted):
            resumed = (
                f", resuming at {format_bytes(event.resume_from)}" if event.resume_from else ""
            )
            self._write(f"started {name} ({format_bytes(event.total_bytes)}{resumed})")
        elif isinstance(event, ItemVerified):
            self._write(f"{where} verified {name} ({format_bytes(event.size)})")
        elif isinstance(event, ItemSkipped):
            self._write(f"{where} skipped {name}: {event.reason}")
        elif isinstance(event, ItemWaiting):
            self._write(f"waiting for {name}: held by {event.holder}")
        elif isinstance(event, ItemFailed):
            self._write(f"{where} FAILED {name}: {event.reason}")
        elif isinstance(event, RetryScheduled):
            self._write(
                f"retry {name} in {event.delay:.1f} s (try {event.attempt}): {event.reason}"
            )
        elif isinstance(event, QuotaChanged):
            self._write(f"connections now {event.limit}: {event.reason}")
        elif isinstance(event, ChecksumIgnored):
            self._write(f"{name}: catalogue {event.algorithm} checksum ignored: {event.reason}")
        now = self.clock()
        if now - self._last >= self.every:
            self._last = now
            self._write(f"progress: {overall_line(snap)}")
