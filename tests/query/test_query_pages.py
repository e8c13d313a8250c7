"""Pagination planning: skips under the 10 000 wall, and time windows without overlap or gap."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from phidown_async.errors import QueryError, SearchIncompleteError
from phidown_async.query import (
    Window,
    build_filter,
    page_skips,
    plan_window,
    reachable_rows,
    search_window,
    split_window,
    validate_search,
    window_after,
    window_fits,
)
from phidown_async.query.pages import ARCHIVE_START, SENTINEL1_LAUNCH

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("total", "top", "skips"),
    [
        (12, 5, [5, 10]),
        (2500, 1000, [1000, 2000]),
        (1000, 1000, []),
        (999, 1000, []),
        (1001, 1000, [1000]),
        (0, 10, []),
        (25_000, 1000, list(range(1000, 10_001, 1000))),
        (10_500, 300, list(range(300, 10_000, 300))),
    ],
)
def test_page_skips(total, top, skips):
    assert page_skips(total, top) == skips


def test_page_skips_never_exceed_the_limit():
    for top in (1, 7, 300, 999, 1000):
        skips = page_skips(50_000, top)
        assert max(skips) <= 10_000
        # Every row that paging can reach is fetched exactly once.
        assert len(skips) + 1 == reachable_rows(top) // top
    assert page_skips(100, 10, max_skip=50) == [10, 20, 30, 40, 50]


@pytest.mark.parametrize(("top", "rows"), [(1000, 11_000), (300, 10_200), (1, 10_001), (7, 10_003)])
def test_reachable_rows(top, rows):
    assert reachable_rows(top) == rows
    assert window_fits(rows, top)
    assert not window_fits(rows + 1, top)


@pytest.mark.parametrize(("total", "top"), [(-1, 10), (10, 0), (10, True), (1.5, 10)])
def test_page_skips_rejects_bad_input(total, top):
    with pytest.raises(QueryError):
        page_skips(total, top)


def test_split_window_halves_adjoin():
    first, second = split_window(T0, T0 + timedelta(days=2))
    assert first == Window(T0, T0 + timedelta(days=1), False)
    assert second == Window(T0 + timedelta(days=1), T0 + timedelta(days=2), None)
    _, inclusive = split_window(T0, T0 + timedelta(days=2), inclusive_end=True)
    assert inclusive.inclusive_end is True


def test_split_window_filters_for_products_and_bursts():
    first, second = split_window(T0, T0 + timedelta(seconds=3))
    products = validate_search()
    bursts = validate_search(burst_mode=True)
    assert build_filter(products, window=first).endswith(
        "ContentDate/Start ge 2024-01-01T00:00:00.000000Z and "
        "ContentDate/Start lt 2024-01-01T00:00:01.500000Z"
    )
    assert build_filter(bursts, window=first) == (
        "ContentDate/Start ge 2024-01-01T00:00:00.000000Z and "
        "ContentDate/Start lt 2024-01-01T00:00:01.500000Z"
    )
    assert build_filter(bursts, window=second) == (
        "ContentDate/Start ge 2024-01-01T00:00:01.500000Z and "
        "ContentDate/Start le 2024-01-01T00:00:03.000000Z"
    )


def test_split_window_needs_two_microseconds():
    first, second = split_window(T0, T0 + timedelta(microseconds=2))
    assert first.end == second.start == T0 + timedelta(microseconds=1)
    for end in (T0 + timedelta(microseconds=1), T0, T0 - timedelta(days=1)):
        with pytest.raises(QueryError):
            split_window(T0, end)


def _contains(window: Window, moment: datetime, burst_mode: bool) -> bool:
    """What CDSE does with the window's ``ge``/``lt``/``le`` fragments."""
    inclusive = burst_mode if window.inclusive_end is None else window.inclusive_end
    return window.start <= moment and (moment <= window.end if inclusive else moment < window.end)


@pytest.mark.parametrize("burst_mode", [False, True])
def test_recursive_splits_leave_no_gap_and_no_overlap(burst_mode):
    rng = random.Random(7)
    span = timedelta(days=10)
    top_window = Window(T0, T0 + span, None)
    # Random instants at microsecond resolution, plus the edges of every split to come.
    moments = {
        T0 + timedelta(microseconds=rng.randrange(span // timedelta(microseconds=1)))
        for _ in range(2000)
    }
    leaves = [top_window]
    for _ in range(6):  # six levels: 64 leaves
        leaves = [half for leaf in leaves for half in split_window(*leaf)]
    moments |= {leaf.start for leaf in leaves} | {T0 + span}
    for moment in moments:
        owners = [leaf for leaf in leaves if _contains(leaf, moment, burst_mode)]
        assert len(owners) == 1 or (not burst_mode and moment == T0 + span and not owners)
    # Leaves tile the original window exactly, in order.
    assert leaves[0].start == T0 and leaves[-1].end == T0 + span
    assert all(a.end == b.start for a, b in itertools.pairwise(leaves))


def test_plan_window_keeps_or_splits():
    window = Window(T0, T0 + timedelta(days=30))
    assert plan_window(window, 11_000, 1000) == (window,)
    halves = plan_window(window, 11_001, 1000)
    assert halves == split_window(T0, T0 + timedelta(days=30))
    assert plan_window(window, 10_200, 300) == (window,)
    assert len(plan_window(window, 10_201, 300)) == 2


def test_plan_window_gives_up_only_on_an_unsplittable_window():
    tiny = Window(T0, T0 + timedelta(microseconds=1))
    with pytest.raises(SearchIncompleteError, match="cannot be split further"):
        plan_window(tiny, 20_000, 1000)


def test_driving_the_planner_fetches_every_row_once():
    """A fake catalogue of 60 000 timestamps, counted and paged the way the engine will."""
    rng = random.Random(11)
    start, end = T0, T0 + timedelta(days=365)
    micros = (end - start) // timedelta(microseconds=1)
    # Clustered data: half the rows in one busy week, to force uneven splits.
    stamps = [start + timedelta(microseconds=rng.randrange(micros)) for _ in range(30_000)]
    busy = start + timedelta(days=100)
    stamps += [
        busy + timedelta(microseconds=rng.randrange(7 * 86_400_000_000)) for _ in range(30_000)
    ]

    def count(window: Window) -> int:
        return sum(1 for s in stamps if _contains(window, s, False))

    pending, leaves, counted = [Window(start, end, None)], [], 0
    while pending and counted < 200:  # bounded: 200 count requests at most
        window = pending.pop()
        rows = count(window)
        counted += 1
        planned = plan_window(window, rows, 1000)
        if len(planned) == 1:
            leaves.append((window, rows))
        else:
            pending.extend(planned)
    assert not pending
    assert all(window_fits(rows, 1000) for _, rows in leaves)
    assert sum(rows for _, rows in leaves) == len(stamps)
    for stamp in stamps[::997]:
        assert sum(_contains(w, stamp, False) for w, _ in leaves) == 1


def test_search_window_uses_the_searchs_dates():
    params = validate_search(start_date="2024-08-01", end_date="2024-08-15T12:00:00")
    assert search_window(params, now=NOW) == Window(
        datetime(2024, 8, 1, tzinfo=UTC), datetime(2024, 8, 15, 12, tzinfo=UTC), None
    )
    shifted = validate_search(start_date="2024-08-01T02:00:00+02:00")
    assert search_window(shifted, now=NOW) == Window(datetime(2024, 8, 1, tzinfo=UTC), NOW, False)


def test_search_window_defaults():
    assert search_window(validate_search(), now=NOW) == Window(SENTINEL1_LAUNCH, NOW, False)
    assert datetime(2014, 4, 1, tzinfo=UTC) == SENTINEL1_LAUNCH
    bursts = validate_search(burst_mode=True, burst_id=1)
    assert search_window(bursts, now=NOW).start == SENTINEL1_LAUNCH
    landsat = validate_search(collection_name="LANDSAT-5")
    assert search_window(landsat, now=NOW).start == ARCHIVE_START
    only_end = validate_search(end_date="2020-01-01")
    assert search_window(only_end, now=NOW) == Window(
        SENTINEL1_LAUNCH, datetime(2020, 1, 1, tzinfo=UTC), None
    )
    future = validate_search(start_date="2030-01-01")
    window = search_window(future, now=NOW)
    assert window.start == window.end == datetime(2030, 1, 1, tzinfo=UTC)


def test_window_after_a_descending_page_keeps_the_last_instant_and_what_is_earlier():
    window = Window(T0, T0 + timedelta(days=30), None)
    last = T0 + timedelta(days=12, microseconds=7)
    rest = window_after(window, last, descending=True)
    assert rest == Window(T0, last + timedelta(microseconds=1), False)
    assert "lt 2024-01-13T00:00:00.000008Z" in build_filter(
        validate_search(collection_name="SENTINEL-1"), window=rest
    )


def test_window_after_an_ascending_page_starts_at_the_last_instant():
    window = Window(T0, T0 + timedelta(days=30), True)
    last = T0 + timedelta(days=3)
    assert window_after(window, last, descending=False) == Window(last, window.end, True)
    # A naive instant is UTC, as everywhere in the engine.
    assert window_after(window, last.replace(tzinfo=None), descending=False) == Window(
        last, window.end, True
    )


def test_window_after_rows_that_all_share_one_instant_is_none():
    window = Window(T0, T0 + timedelta(days=1), False)
    assert window_after(window, T0, descending=False) is None
    assert window_after(window, window.end - timedelta(microseconds=1), descending=True) is None
    inclusive = Window(T0, T0 + timedelta(days=1), True)
    assert window_after(inclusive, inclusive.end, descending=True) is None
