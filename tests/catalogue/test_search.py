"""The async catalogue search on the sandbox: complete, ordered, bounded, never silently partial."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from phidown_async.catalogue.search import Search
from phidown_async.config import Endpoints, Limits
from phidown_async.errors import SearchIncompleteError, ServiceError
from phidown_async.query.parameters import validate_search
from phidown_async.retry import RetryPolicy
from phidown_async.sandbox import Faults, Sandbox, SandboxConfig
from phidown_async.session import Session

FAST_RETRY = RetryPolicy(attempts=8, initial_delay=0.01, max_delay=0.05, jitter=0.0)
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"


class CountingTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the sandbox, counting requests in flight (peak) and in total."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.active = 0
        self.peak = 0
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.active += 1
        self.sent += 1
        self.peak = max(self.peak, self.active)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(products=300, seed=3)) as running:
        yield running


@pytest.fixture(scope="module")
def bulk(bulk_sandbox):
    """25,000 GRD products and 25,000 bursts in March 2024 (tests/conftest.py, read only)."""
    return bulk_sandbox


async def _search(
    endpoints: Endpoints,
    *,
    limits: Limits | None = None,
    transport=None,
    allow_partial: bool = False,
    **kwargs,
):
    async with Session(
        endpoints, limits=limits or Limits(), retry=FAST_RETRY, transport=transport
    ) as s:
        search = Search(s, validate_search(**kwargs), allow_partial=allow_partial)
        count = await search.count()
        df = await search.frame()
        return search, count, df


async def test_every_match_once_in_requested_order(sandbox):
    _, count, df = await _search(
        sandbox.endpoints, collection_name="SENTINEL-1", top=20, count=True
    )
    assert count > 60  # several pages of 20
    assert len(df) == count == df["Id"].nunique()
    starts = [d["Start"] for d in df["ContentDate"]]
    assert starts == sorted(starts, reverse=True)


async def test_transient_page_failures_still_return_every_product_once(sandbox):
    _, count, clean = await _search(
        sandbox.endpoints, collection_name="SENTINEL-1", top=10, count=True
    )
    sandbox.set_faults(
        Faults(catalogue_rates={"500": 0.3, "429": 0.05, "503": 0.05}, retry_after=0.01)
    )
    try:
        _, _, df = await _search(
            sandbox.endpoints, collection_name="SENTINEL-1", top=10, count=True
        )
    finally:
        sandbox.set_faults(Faults())
    assert list(df["Id"]) == list(clean["Id"])
    assert len(df) == count
    assert sandbox.counters.requests("search", 500) > 0


def _fixture_pages() -> list[dict]:
    pages = [
        json.loads((FIXTURES / f"s1-catalogue-odata_page_{i}.json").read_text())
        for i in range(1, 6)
    ]
    return [item for page in pages for item in page["value"]]


def _failing_catalogue(broken_skip: int, *, fail_times: int):
    """A catalogue serving the recorded fixture items, whose page at ``broken_skip`` fails."""
    items = _fixture_pages()
    failures = {"left": fail_times}

    def handler(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        top = int(query["$top"][0])
        skip = int(query.get("$skip", ["0"])[0])
        if skip == broken_skip and failures["left"] > 0:
            failures["left"] -= 1
            return httpx.Response(503, json={"detail": "unavailable"})
        body = {"@odata.context": "$metadata#Products(Attributes())"}
        if query.get("$count") == ["true"]:
            body["@odata.count"] = len(items)
        body["value"] = items[skip : skip + top]
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler), len(items)


async def test_a_page_that_keeps_failing_raises_naming_the_page():
    transport, _ = _failing_catalogue(20, fail_times=1000)
    with pytest.raises(SearchIncompleteError) as caught:
        await _search(
            Endpoints(), transport=transport, collection_name="SENTINEL-1", top=10, count=True
        )
    assert caught.value.skip == 20
    assert "$skip=20" in str(caught.value)


async def test_partial_results_are_flagged_when_allowed():
    transport, total = _failing_catalogue(20, fail_times=1000)
    search, _, df = await _search(
        Endpoints(),
        transport=transport,
        allow_partial=True,
        collection_name="SENTINEL-1",
        top=10,
        count=True,
    )
    assert search.incomplete
    assert [page.skip for page in search.failed_pages] == [20]
    assert df.attrs["incomplete"] is True
    assert len(df) == total - 10


async def test_a_page_failing_transiently_is_retried_not_dropped():
    transport, total = _failing_catalogue(20, fail_times=3)
    search, _, df = await _search(
        Endpoints(), transport=transport, collection_name="SENTINEL-1", top=10, count=True
    )
    assert not search.incomplete
    assert len(df) == total == df["Id"].nunique()


async def _bulk_march(bulk, **extra):
    """Every GRD product of March 2024 in the bulk sandbox, over at most 3 connections."""
    transport = CountingTransport()
    search, count, df = await _search(
        bulk.endpoints,
        limits=Limits(connections=3),
        transport=transport,
        collection_name="SENTINEL-1",
        product_type="GRD",
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-04-01T00:00:00Z",
        count=True,
        **extra,
    )
    return transport, search, count, df


async def test_25000_products_all_returned_once_with_bounded_concurrency(bulk):
    transport, search, count, df = await _bulk_march(bulk)
    assert count >= 25_000
    assert len(df) == count == df["Id"].nunique()
    assert not search.incomplete
    assert 1 < transport.peak <= 3
    # Ordered by time, the search goes on after the last row it could reach: little more
    # than one request per page (count(), 25 pages, a few repeated at window edges and
    # guesses past the end), where counting and halving windows would take 31 or more.
    assert transport.sent <= 30
    starts = [d["Start"] for d in df["ContentDate"]]
    assert starts == sorted(starts, reverse=True)


async def test_25000_products_ordered_by_another_field_come_through_split_windows(bulk):
    transport, search, count, df = await _bulk_march(bulk, order_by="PublicationDate asc")
    assert count >= 25_000
    assert len(df) == count == df["Id"].nunique()
    assert not search.incomplete
    published = list(df["PublicationDate"])
    assert published == sorted(published)
    assert transport.peak <= 3


async def test_25000_bursts_all_returned_once(bulk):
    _, count, df = await _search(
        bulk.endpoints,
        burst_mode=True,
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-04-01T00:00:00Z",
        count=True,
    )
    assert count >= 25_000
    assert len(df) == count == df["Id"].nunique()


async def test_one_page_only_when_count_is_false(sandbox):
    transport = CountingTransport()
    async with Session(sandbox.endpoints, transport=transport) as session:
        search = Search(
            session, validate_search(collection_name="SENTINEL-1", top=5), all_pages=False
        )
        df = await search.frame()
    assert len(df) == 5
    assert transport.sent == 1


def _fixture_catalogue(count: int, *, broken_skips: frozenset[int] = frozenset()):
    """The first ``count`` recorded items as a catalogue; records each request's $skip and
    whether the first page (the one with ``$count``) had been answered when it came."""
    items = _fixture_pages()[:count]
    log: list[tuple[int, bool]] = []
    first_answered = anyio.Event()
    others_in = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        top, skip = int(query["$top"][0]), int(query.get("$skip", ["0"])[0])
        counting = query.get("$count") == ["true"]
        body: dict = {"value": items[skip : skip + top]}
        if counting and top == 1:  # Search.count()
            return httpx.Response(200, json={**body, "@odata.count": len(items)})
        log.append((skip, first_answered.is_set()))
        if len(log) >= 4:
            others_in.set()
        if counting:
            with anyio.move_on_after(2):  # bounded: gives the guesses time to arrive
                await others_in.wait()
            body["@odata.count"] = len(items)
            first_answered.set()
        if skip in broken_skips:
            return httpx.Response(503, json={"detail": "unavailable"})
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler), items, log


async def _pages_of_ten(transport):
    """A SENTINEL-1 search in pages of 10 over 4 connections, against ``transport``."""
    return await _search(
        Endpoints(),
        limits=Limits(connections=4),
        transport=transport,
        collection_name="SENTINEL-1",
        top=10,
        count=True,
    )


async def test_the_next_pages_are_asked_for_with_the_first():
    transport, items, log = _fixture_catalogue(47)
    _, _, df = await _pages_of_ten(transport)
    assert list(df["Id"]) == [item["Id"] for item in items]
    # The first page and three guesses went out before that page came back (a round trip
    # saved); no page was asked for twice, and at most three guesses went past the end.
    skips = [skip for skip, _ in log]
    assert len(skips) == len(set(skips)) and set(skips) >= {0, 10, 20, 30, 40}
    assert len([skip for skip in skips if skip >= 47]) <= 3
    assert {0, 10, 20, 30} <= {skip for skip, answered in log if not answered}


async def test_a_small_result_costs_at_most_the_budget_in_requests():
    transport, items, log = _fixture_catalogue(7)
    _, _, df = await _pages_of_ten(transport)
    assert list(df["Id"]) == [item["Id"] for item in items]
    assert len(log) == 4  # the page, and three guesses that came back empty


async def test_a_failing_guess_past_the_count_does_not_fail_the_search():
    transport, items, _ = _fixture_catalogue(25, broken_skips=frozenset({30}))
    search, _, df = await _pages_of_ten(transport)
    assert list(df["Id"]) == [item["Id"] for item in items]
    assert not search.incomplete


async def test_a_refused_first_page_raises_the_service_error_itself():
    def refuse(request: httpx.Request) -> httpx.Response:
        if parse_qs(urlsplit(str(request.url)).query)["$top"] == ["1"]:  # Search.count()
            return httpx.Response(200, json={"@odata.count": 50, "value": []})
        return httpx.Response(400, json={"detail": "Invalid filter: unknown field"})

    with pytest.raises(ServiceError, match="Invalid filter") as caught:
        await _search(
            Endpoints(),
            transport=httpx.MockTransport(refuse),
            collection_name="SENTINEL-1",
            top=10,
            count=True,
        )
    assert caught.value.status == 400  # not wrapped in an exception group
