"""Deferred catalogue searches: concurrent pages, never a silent gap, no 10,000-result wall.

A :class:`Search` does no I/O until it is used. Pages are fetched concurrently under the
session's connection budget and retried by the session's policy; results come back in the
requested order, deduplicated by ``Id``. Past CDSE's ``$skip`` limit the time range is cut
into ``ContentDate/Start`` windows, so a search matching 25,000 products returns all 25,000:
ordered by that field, the search goes on after the last row it could reach; ordered by
another, each window is counted and split in halves as often as needed.

If a page keeps failing the search raises :class:`SearchIncompleteError` naming the page,
unless the caller opted in to partial results (``allow_partial=True``), which are then
flagged: ``search.incomplete`` is True and ``search.failed_pages`` says what is missing.

A search runs its query once: the pages it fetched are kept, and ``count()``, ``frame()``,
``pages()`` and ``products()`` read them instead of asking again (``count()`` before any of
them asks for the number alone, once).

Example:
    >>> async with Session(Endpoints.from_env()) as session:      # doctest: +SKIP
    ...     search = Search(session, collection_name="SENTINEL-2",
    ...                     start_date="2024-05-01", end_date="2024-05-02")
    ...     print(await search.count())
    ...     df = await search.frame()                    # no second query
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from ..concurrency import FirstErrorGroup
from ..errors import PhidownError, SearchIncompleteError, ServiceError
from ..query.odata import build_params, build_url, collection_url
from ..query.pages import (
    Window,
    page_skips,
    plan_window,
    reachable_rows,
    search_window,
    window_after,
    window_fits,
)
from ..query.parameters import MAX_SKIP, SearchParams, validate_search
from ..session import Session
from .frame import dedupe, entity_coverage, result_frame
from .tidy import tidy

__all__ = ["FailedPage", "Page", "Search"]


@dataclass(frozen=True)
class Page:
    """One catalogue page: where it sits (window, skip) and its entities in server order."""

    skip: int
    window: Window | None
    entities: list[dict[str, Any]]


@dataclass(frozen=True)
class FailedPage:
    """A page that could not be fetched (only recorded with ``allow_partial=True``)."""

    skip: int
    window: Window | None
    error: str


def _describe(skip: int, window: Window | None) -> str:
    where = f"$skip={skip}"
    if window is not None:
        where += f" of window {window.start.isoformat()} .. {window.end.isoformat()}"
    return where


def _sort_key(order_by: str) -> tuple[str, bool]:
    field, _, direction = order_by.partition(" ")
    return field, direction.strip().lower() == "desc"


def _field_value(entity: Mapping[str, Any], field: str) -> str:
    value: Any = entity
    for part in field.split("/"):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


class Search:
    """A catalogue search that runs when used.

    Args:
        session: the run's session (its client, budget and retry policy are used).
        params: validated search parameters (``query.parameters.validate_search``); or
            leave it out and give the search's keyword arguments instead.
        all_pages: fetch every match (default). False fetches only the one page phidown's
            ``execute_query`` fetches when ``count=False``; a manual ``params.skip`` also
            means one page.
        allow_partial: keep going when a page keeps failing, flagging the result as
            incomplete instead of raising.
        url: where the search goes (default: the session's catalogue, ``Products`` or
            ``Bursts`` by the parameters).
        **criteria: ``validate_search``'s arguments (``collection_name``, ``aoi_wkt``,
            ``start_date``, ...), when ``params`` is not given.

    Raises:
        QueryError, QueryTypeError: invalid ``criteria`` (phidown's messages).
        TypeError: both ``params`` and ``criteria`` given.

    Example:
        >>> search = Search(session, collection_name="SENTINEL-1", product_type="SLC",
        ...                 start_date="2024-08-01", end_date="2024-08-03")  # doctest: +SKIP
    """

    def __init__(
        self,
        session: Session,
        params: SearchParams | None = None,
        *,
        all_pages: bool = True,
        allow_partial: bool = False,
        url: str | None = None,
        **criteria: Any,
    ) -> None:
        if params is None:
            params = validate_search(**criteria)
        elif criteria:
            raise TypeError("Search takes either params or search keyword arguments, not both")
        self.session = session
        self.params = params
        self.all_pages = all_pages and params.skip is None
        self.allow_partial = allow_partial
        self.url = url or collection_url(params, session.endpoints.catalogue_url)
        self.failed_pages: list[FailedPage] = []
        #: ``@odata.count`` of the whole search, once the first page or ``count()`` is in
        #: (None before, and for a single page fetched without ``$count``).
        self.reported_count: int | None = None
        # Every page, once a run of pages() reached the end.
        self._pages: list[Page] | None = None
        # Coverage by id() of each entity, worked out as pages arrive (while frame() runs).
        self._coverage: dict[int, float] | None = None

    @property
    def incomplete(self) -> bool:
        """True when some pages are missing (only possible with ``allow_partial``)."""
        return bool(self.failed_pages)

    def request_url(
        self,
        *,
        skip: int | None = None,
        window: Window | None = None,
        count: bool | None = None,
        top: int | None = None,
    ) -> str:
        """The encoded URL of one page request."""
        pairs = build_params(self.params, skip=skip, window=window, count=count, top=top)
        return build_url(self.url, pairs)

    async def _get(self, url: str) -> dict[str, Any]:
        return await self.session.get_json(url)

    async def count(self) -> int:
        """The number of matches: the kept count of the pages fetched, else one request
        with ``$top=1`` and ``$count=true`` (its answer kept too)."""
        if self.reported_count is None:
            body = await self._get(self.request_url(skip=None, count=True, top=1))
            self.reported_count = int(body.get("@odata.count", 0))
        return self.reported_count

    async def _first(self, window: Window | None) -> tuple[dict[str, Any], int]:
        count = True if self.all_pages else None
        skip = None if self.all_pages else self.params.skip
        body = await self._get(self.request_url(skip=skip, window=window, count=count))
        if "value" not in body or not isinstance(body["value"], list):
            raise ServiceError(f"The catalogue page {self.url} has no 'value' list")
        total = body.get("@odata.count")
        if window is None and total is not None:
            self.reported_count = int(total)
        return body, int(total) if total is not None else len(body["value"])

    async def _window_pages(self, window: Window | None, expected: int | None = None):
        """The pages of one time window (``None``: the whole search), in order.

        Ordered by ``ContentDate/Start``, a window too large to page is paged as far as
        CDSE allows and the rest follows in the window after its last row; ordered by
        anything else, it is split in two halves, each counted and paged in turn.

        Args:
            expected: the window's likely size, None if unknown; a window expected to be
                split makes no guesses.
        """
        if not self.all_pages:
            body, _ = await self._first(window)
            self._arrived(body["value"])
            yield Page(self.params.skip or 0, window, body["value"])
            return
        top = self.params.top
        field, descending = _sort_key(self.params.order_by)
        by_time = field == "ContentDate/Start"
        room = self.session.limits.connections - 1
        if expected is not None and not by_time and not window_fits(expected, top):
            room = 0
        fetch = _WindowFetch(self, window, page_all=by_time)
        body, total = await fetch.run(room)
        whole = window or search_window(self.params)
        if not window_fits(total, top):
            rest = self._rest_after(fetch, body, whole, descending) if by_time else None
            if rest is not None:
                for page in self._window_result(fetch, body, window):
                    yield page
                left = total - reachable_rows(top)
                async for page in self._window_pages(rest, expected=left):
                    yield page
                return
            halves = list(plan_window(whole, total, top))
            if by_time and descending:
                halves.reverse()
            for half in halves:
                async for page in self._window_pages(half, expected=total // 2):
                    yield page
            return
        for page in self._window_result(fetch, body, window):
            yield page

    @staticmethod
    def _rest_after(
        fetch: _WindowFetch, body: dict[str, Any], whole: Window, descending: bool
    ) -> Window | None:
        """The window after the last row received (None: no progress, or no time on it)."""
        pages = [body["value"], *(fetch.pages[skip] for skip in sorted(fetch.pages))]
        last = next((page[-1] for page in reversed(pages) if page), None)
        start = _field_value(last or {}, "ContentDate/Start")
        try:
            moment = datetime.fromisoformat(start)
        except ValueError:
            return None
        return window_after(whole, moment, descending=descending)

    def _window_result(
        self, fetch: _WindowFetch, body: dict[str, Any], window: Window | None
    ) -> list[Page]:
        """The window's pages in order; a page that failed raises or is recorded."""
        skips = sorted(fetch.needed)
        missing = [skip for skip in skips if skip not in fetch.pages]
        failures = fetch.failures
        if missing and not self.allow_partial:
            # The first page that failed (the search stopped the others meanwhile).
            skip = next(skip for skip in missing if skip in failures)
            raise SearchIncompleteError(
                f"The catalogue page at {_describe(skip, window)} could not be fetched: "
                f"{failures[skip]}",
                skip=skip,
                cause=failures[skip],
            )
        self.failed_pages.extend(FailedPage(s, window, str(failures[s])) for s in missing)
        first = Page(0, window, body["value"])
        return [first, *(Page(s, window, fetch.pages[s]) for s in skips if s in fetch.pages)]

    def _arrived(self, entities: list[dict[str, Any]]) -> None:
        """A page came in: work out what the frame will want of it while others travel."""
        if self._coverage is not None:
            values = entity_coverage(entities, self.params.aoi_wkt)
            self._coverage.update(zip(map(id, entities), values, strict=True))

    async def pages(self) -> AsyncIterator[Page]:
        """The result pages, in the requested order (each time window in turn).

        The first run to reach the end keeps them; later calls read the kept pages.
        """
        if self._pages is not None:
            for page in self._pages:
                self._arrived(page.entities)
                yield page
            return
        self.failed_pages.clear()
        fetched: list[Page] = []
        async for page in self._window_pages(None):
            fetched.append(page)
            yield page
        self._pages = fetched

    async def products(self) -> AsyncIterator[dict[str, Any]]:
        """Every matching entity once, in the requested order."""
        seen: set[str] = set()
        async for page in self.pages():
            for entity in page.entities:
                key = entity.get("Id")
                if key in seen:
                    continue
                if key is not None:
                    seen.add(key)
                yield entity

    async def entities(self) -> list[dict[str, Any]]:
        """Every matching entity in a list, in the requested order.

        When the range had to be split by time and the order is not ``ContentDate/Start``,
        the windows are merged by the order field (``Id`` breaking ties), as CDSE would.
        """
        pages = [page async for page in self.pages()]
        entities = list(dedupe(e for page in pages for e in page.entities))
        field, descending = _sort_key(self.params.order_by)
        if len({page.window for page in pages}) > 1 and field != "ContentDate/Start":
            entities.sort(
                key=lambda e: (_field_value(e, field), str(e.get("Id"))), reverse=descending
            )
        return entities

    async def frame(self) -> pd.DataFrame:
        """The results as phidown's DataFrame (entity columns plus ``coverage``).

        ``df.attrs["incomplete"]`` is True when partial results were allowed and pages are
        missing.
        """
        self._coverage = {}
        try:
            entities = await self.entities()
            coverage = [self._coverage[id(entity)] for entity in entities]
        finally:
            self._coverage = None
        # Each page's coverage was worked out while the next pages were on their way.
        df = result_frame(entities, coverage)
        df.attrs["incomplete"] = self.incomplete
        return df

    async def tidy(self) -> pd.DataFrame:
        """The results as the tidy view for analysis (`catalogue.tidy.tidy` of `frame`).

        Typed columns (``start``/``end`` in UTC, ``platform``, ``orbit_direction``,
        ``relative_orbit``, ...) and the footprint as ``geometry``: a GeoDataFrame when
        geopandas is installed. ``attrs["incomplete"]`` is kept.
        """
        df = await self.frame()
        view = tidy(df)
        view.attrs["incomplete"] = df.attrs.get("incomplete", False)
        return view


class _WindowFetch:
    """The pages of one window of a search, fetched concurrently.

    The first request brings the window's count, and waiting for it before asking for more
    would cost a round trip. So, until the count is known, the next pages are guessed: as
    many go out beside the first as the connection budget has room for, and each guess
    that comes back full sends the next one. Once the count is known the rest go out. A
    guess past the end comes back empty (at most a budget's worth are wasted). A window
    too large to page is paged as far as ``$skip`` reaches with ``page_all``, else its
    guesses are cancelled; a page failing for good (without ``allow_partial``) cancels
    the others.
    """

    def __init__(self, search: Search, window: Window | None, *, page_all: bool) -> None:
        self.search = search
        self.window = window
        self.page_all = page_all
        self.top = search.params.top
        self.pages: dict[int, list[dict[str, Any]]] = {}
        self.failures: dict[int, BaseException] = {}
        self.started: set[int] = set()
        #: The pages after the first that the count says exist (empty until it is known).
        self.needed: set[int] = set()
        self._counted = False
        self._group: FirstErrorGroup | None = None

    async def run(self, guesses: int) -> tuple[dict[str, Any], int]:
        """Fetch the window; returns the first page's body and the window's count.

        Raises:
            whatever the first request raised (its page's failures are not recorded).
        """
        async with FirstErrorGroup() as self._group:
            for skip in range(self.top, self.top * guesses + 1, self.top):
                if skip <= MAX_SKIP:
                    self._launch(skip)
            first = await self.search._first(self.window)
            self._counted_as(*first)
        return first

    def _counted_as(self, body: dict[str, Any], total: int) -> None:
        """The first page is in: ask for the rest, or cancel what a split makes moot."""
        assert self._group is not None
        search = self.search
        search._arrived(body["value"])
        self._counted = True
        if not window_fits(total, self.top) and not self.page_all:
            self._group.cancel_scope.cancel()
            return
        self.needed = set(page_skips(total, self.top))  # as far as $skip reaches
        if not search.allow_partial and self.needed & self.failures.keys():
            self._group.cancel_scope.cancel()
        for skip in sorted(self.needed - self.started):
            self._launch(skip)

    def _launch(self, skip: int) -> None:
        assert self._group is not None
        self.started.add(skip)
        self._group.start_soon(self._fetch, skip)

    async def _fetch(self, skip: int) -> None:
        search = self.search
        url = search.request_url(skip=skip, window=self.window, count=False)
        try:
            body = await search._get(url)
        except (PhidownError, OSError) as exc:
            self.failures[skip] = exc
            if skip in self.needed and not search.allow_partial:
                assert self._group is not None
                self._group.cancel_scope.cancel()  # the search has failed: stop the others
            return
        page = self.pages[skip] = list(body.get("value") or [])
        search._arrived(page)
        guess = max(self.started) + self.top
        if not self._counted and len(page) >= self.top and guess <= MAX_SKIP:
            self._launch(guess)  # a full page: there is probably more
