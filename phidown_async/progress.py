"""A progress sink ready to use: a live display on a terminal, log records elsewhere.

On a terminal (stderr), `progress_sink` draws the command line's live view (overall bar,
bytes, rate, time left, one line per active item) on stderr; in a notebook, a pipe, a
service or a CI log it hands out a `LoggingSink` instead, whose records go wherever the
application's logging sends them.

Example:
    >>> async def fetch(frame):
    ...     with progress_sink(len(frame)) as sink:
    ...         return await download_products(frame, "data/", sink=sink)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from .events import EventSink
from .logs import LoggingSink

__all__ = ["progress_sink"]


def _terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def progress_sink(
    items: int,
    *,
    sizes: Mapping[str, int] | None = None,
    names: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> Iterator[EventSink]:
    """An event sink for a run of ``items`` items, shown while the ``with`` block runs.

    Args:
        items: how many items the run has (for the counts and the time left).
        sizes, names: expected sizes and display names by Id, when known beforehand.
        stream: where the live display goes (default: stderr); when it is not a
            terminal, or rich is not installed, events are logged instead.
    """
    out = stream if stream is not None else sys.stderr
    try:
        from rich.console import Console

        from .cli.progress import LiveDisplay, RunProgress
    except ImportError:  # an install without the command line's display
        yield LoggingSink()
        return
    if not _terminal(out):
        yield LoggingSink()
        return
    progress = RunProgress(items, sizes=dict(sizes or {}), names=dict(names or {}))
    with LiveDisplay(progress, Console(file=out)).live():
        yield progress
