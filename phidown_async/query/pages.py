"""Pagination planning under CDSE's limits (pure).

CDSE serves at most ``$top=1000`` rows per request and refuses ``$skip`` above 10 000, so one
query can reach at most ``(10000 // top + 1) * top`` rows (11 000 with ``top=1000``; only
10 200 with ``top=300``, whose last legal skip is 9 900). A bigger search is cut into time
windows on ``ContentDate/Start``. Ordered by that field, it pages what it can reach and goes
on in the window :func:`window_after` the last row it got (ties with that row come again and
are dropped by ``Id``); ordered by anything else, it counts a window, asks
:func:`plan_window`, and either pages it or counts its two halves, recursively.

Window bounds never overlap and leave no gap: a window is ``start <= t < end``, or
``start <= t <= end`` when ``inclusive_end`` is true (burst searches end with ``le``, as in
phidown). Splitting gives ``[start, mid)`` and ``[mid, end)`` / ``[mid, end]``.

Example:
    >>> page_skips(2500, 1000)
    [1000, 2000]
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ..errors import QueryError, SearchIncompleteError
from .parameters import MAX_SKIP, SearchParams

__all__ = [
    "ARCHIVE_START",
    "SENTINEL1_LAUNCH",
    "Window",
    "default_start",
    "page_skips",
    "plan_window",
    "reachable_rows",
    "search_window",
    "split_window",
    "window_after",
    "window_fits",
]

#: Lower bound of the default window for Sentinel collections and bursts.
SENTINEL1_LAUNCH = datetime(2014, 4, 1, tzinfo=UTC)
#: Lower bound for the heritage collections (Landsat-5 data start in the 1980s).
ARCHIVE_START = datetime(1970, 1, 1, tzinfo=UTC)


class Window(NamedTuple):
    """A ``ContentDate/Start`` time slice.

    Attributes:
        start: inclusive lower bound (aware; naive is taken as UTC).
        end: upper bound.
        inclusive_end: True emits ``le end``, False ``lt end``, None lets the search mode
            decide (``lt`` for Products, ``le`` for Bursts, as phidown).
    """

    start: datetime
    end: datetime
    inclusive_end: bool | None = None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QueryError(f"{name} must be a positive integer, got {value!r}")


def reachable_rows(top: int, *, max_skip: int = MAX_SKIP) -> int:
    """How many rows one query can page through with pages of ``top`` rows.

    Raises:
        QueryError: ``top`` is not a positive integer.
    """
    _positive("top", top)
    return (max_skip // top + 1) * top


def page_skips(total: int, top: int, *, max_skip: int = MAX_SKIP) -> list[int]:
    """The ``$skip`` values still to fetch after the first page (``skip=0``).

    ``top, 2*top, ...`` below ``total``, none above ``max_skip``: if ``total`` exceeds
    :func:`reachable_rows`, the rest cannot be paged and the caller must split by time.

    Raises:
        QueryError: ``top`` is not a positive integer or ``total`` is negative.
    """
    _positive("top", top)
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise QueryError(f"total must be a non-negative integer, got {total!r}")
    return list(range(top, min(total, max_skip + 1), top))


def window_fits(count: int, top: int, *, max_skip: int = MAX_SKIP) -> bool:
    """True when ``count`` rows can all be paged with pages of ``top`` rows."""
    return count <= reachable_rows(top, max_skip=max_skip)


def split_window(
    start: datetime, end: datetime, inclusive_end: bool | None = None
) -> tuple[Window, Window]:
    """Cut ``[start, end)`` (or ``[start, end]``) in two halves at the midpoint.

    The first half always ends with ``lt mid``; the second starts at ``ge mid`` and keeps the
    original end and its ``inclusive_end``, so together they cover exactly the same instants.
    ``split_window(*window)`` splits a :class:`Window`.

    Raises:
        QueryError: the window is shorter than two microseconds (CDSE's time resolution).
    """
    start, end = _utc(start), _utc(end)
    # timedelta // 2 rounds down to whole microseconds, the resolution of CDSE's literals.
    mid = start + (end - start) // 2
    if not start < mid < end:
        raise QueryError(f"The window {start.isoformat()} .. {end.isoformat()} cannot be split")
    return Window(start, mid, False), Window(mid, end, inclusive_end)


def window_after(window: Window, last_start: datetime, *, descending: bool) -> Window | None:
    """The part of ``window`` still to page after rows ordered by ``ContentDate/Start``.

    Args:
        window: the window paged so far.
        last_start: ``ContentDate/Start`` of the last row received.
        descending: the rows come latest first.

    Returns:
        ``[window.start, last_start]`` for a descending order (as ``lt last_start + 1 µs``,
        CDSE's resolution), ``[last_start, window.end)`` for an ascending one: both hold the
        rows not received yet and those tied with the last one. None when that would not
        be smaller than ``window`` (every row received so far shares one instant).
    """
    last = _utc(last_start)
    if descending:
        end = last + timedelta(microseconds=1)
        return Window(window.start, end, False) if end < _utc(window.end) else None
    return Window(last, window.end, window.inclusive_end) if last > _utc(window.start) else None


def plan_window(
    window: Window, count: int, top: int, *, max_skip: int = MAX_SKIP
) -> tuple[Window, ...]:
    """Decide what to do with a counted window.

    Returns:
        ``(window,)`` when its ``count`` rows can be paged, else its two halves (count each
        and plan again).

    Raises:
        SearchIncompleteError: too many rows share an instant to ever be paged completely.
    """
    if window_fits(count, top, max_skip=max_skip):
        return (window,)
    try:
        return split_window(window.start, window.end, inclusive_end=window.inclusive_end)
    except QueryError:
        raise SearchIncompleteError(
            f"{count} results fall in {window.start.isoformat()} .. {window.end.isoformat()}, "
            f"more than the {reachable_rows(top, max_skip=max_skip)} CDSE can page, and the "
            "window cannot be split further"
        ) from None


def default_start(params: SearchParams) -> datetime:
    """Lower bound used when the search gave no ``start_date``.

    2014-04-01 (Sentinel-1 launch) for bursts and the Sentinel collections; 1970-01-01 for the
    heritage collections (Landsat, Envisat, ...) whose archives are older.
    """
    collection = params.collection_name if isinstance(params.collection_name, str) else ""
    if params.burst_mode or collection.upper().startswith("SENTINEL"):
        return SENTINEL1_LAUNCH
    return ARCHIVE_START


def search_window(params: SearchParams, *, now: datetime | None = None) -> Window:
    """The whole time range of a search, as a window to count and split.

    Uses the search's own dates (naive ones are UTC, as on CDSE); a missing start is
    :func:`default_start`, a missing end is ``now`` (exclusive). When the search has an end
    date the window keeps the mode's operator (``inclusive_end=None``).

    Args:
        params: validated parameters.
        now: the current time (injected for tests); defaults to the clock.
    """
    start = params.start or default_start(params)
    if params.end is not None:
        return Window(start, params.end, None)
    end = _utc(now) if now is not None else datetime.now(UTC)
    return Window(start, max(start, end), False)
