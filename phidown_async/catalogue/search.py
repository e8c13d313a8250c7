"""Deferred catalogue searches: concurrent pages, never a silent gap, no 10,000-result wall.

A :class:`Search` does no I/O until it is used. Pages are fetched concurrently under the
session's connection budget and retried by the session's policy; results come back in the
requested order, deduplicated by ``Id``. Past CDSE's ``$skip`` limit the time range is cut
into ``ContentDate/Start`` windows (counted, then split in halves as often as needed), so a
search matching 25,000 products returns all 25,000.

If a page keeps failing the search raises :class:`SearchIncompleteError` naming the page,
unless the caller opted in to partial results (``allow_partial=True``), which are then
flagged: ``search.incomplete`` is True and ``search.failed_pages`` says what is missing.

Example:
    >>> async with Session(Endpoints.from_env()) as session:      # doctest: +SKIP
    ...     search = Search(session, validate_search(collection_name="SENTINEL-2",
    ...                                              start_date="2024-05-01",
    ...                                              end_date="2024-05-02"))
    ...     print(await search.count())
    ...     df = await search.frame()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import pandas as pd

from ..errors import PhidownError, SearchIncompleteError, ServiceError
from ..query.odata import build_params, build_url, collection_url
from ..query.pages import Window, page_skips, search_window, split_window, window_fits
from ..query.parameters import SearchParams
from ..session import Session
from .frame import add_coverage, dedupe, to_frame

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
        params: validated search parameters (``query.parameters.validate_search``).
        all_pages: fetch every match (default). False fetches only the one page phidown's
            ``execute_query`` fetches when ``count=False``; a manual ``params.skip`` also
            means one page.
        allow_partial: keep going when a page keeps failing, flagging the result as
            incomplete instead of raising.
    """

    def __init__(
        self,
        session: Session,
        params: SearchParams,
        *,
        all_pages: bool = True,
        allow_partial: bool = False,
    ) -> None:
        self.session = session
        self.params = params
        self.all_pages = all_pages and params.skip is None
        self.allow_partial = allow_partial
        self.url = collection_url(params, session.endpoints.catalogue_url)
        self.failed_pages: list[FailedPage] = []
        #: ``@odata.count`` of the whole search, once the first page is in (None before, and
        #: for a single page fetched without ``$count``).
        self.reported_count: int | None = None

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
        """The number of matches (one request with ``$top=1`` and ``$count=true``)."""
        body = await self._get(self.request_url(skip=None, count=True, top=1))
        return int(body.get("@odata.count", 0))

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

    async def _fetch_pages(self, window: Window | None, skips: list[int]) -> dict[int, list]:
        """Fetch the pages at ``skips`` concurrently; failures raise or are recorded."""
        results: dict[int, list] = {}
        errors: list[BaseException] = []

        async def fetch(skip: int) -> None:
            try:
                body = await self._get(self.request_url(skip=skip, window=window, count=False))
                results[skip] = list(body.get("value") or [])
            except (PhidownError, OSError) as exc:
                if self.allow_partial:
                    self.failed_pages.append(FailedPage(skip, window, str(exc)))
                    return
                errors.append(
                    SearchIncompleteError(
                        f"The catalogue page at {_describe(skip, window)} could not be "
                        f"fetched: {exc}",
                        skip=skip,
                        cause=exc,
                    )
                )
                tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            for skip in skips:
                tg.start_soon(fetch, skip)
        if errors:
            raise errors[0]
        return results

    async def _window_pages(self, window: Window | None) -> AsyncIterator[Page]:
        body, total = await self._first(window)
        top = self.params.top
        if not self.all_pages:
            yield Page(self.params.skip or 0, window, body["value"])
            return
        if not window_fits(total, top):
            whole = window or search_window(self.params)
            halves = list(split_window(whole.start, whole.end, inclusive_end=whole.inclusive_end))
            field, descending = _sort_key(self.params.order_by)
            if field == "ContentDate/Start" and descending:
                halves.reverse()
            for half in halves:
                async for page in self._window_pages(half):
                    yield page
            return
        yield Page(0, window, body["value"])
        skips = page_skips(total, top)
        pages = await self._fetch_pages(window, skips)
        for skip in skips:
            if skip in pages:
                yield Page(skip, window, pages[skip])

    async def pages(self) -> AsyncIterator[Page]:
        """The result pages, in the requested order (each time window in turn)."""
        self.failed_pages.clear()
        async for page in self._window_pages(None):
            yield page

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
        df = to_frame(await self.entities())
        if not df.empty:
            df = add_coverage(df, self.params.aoi_wkt, self.params.burst_mode)
        df.attrs["incomplete"] = self.incomplete
        return df
