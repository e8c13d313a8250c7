"""A Search built from keywords runs its query once: count, frame and pages reuse its pages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pandas as pd
import pytest

from phidown_async import Search
from phidown_async.config import Endpoints
from phidown_async.errors import QueryError
from phidown_async.query.parameters import validate_search
from phidown_async.session import Session

AOI = "POLYGON((10 45, 11 45, 11 46, 10 46, 10 45))"
CRITERIA = {"collection_name": "SENTINEL-1", "aoi_wkt": AOI, "top": 10}


def _entity(index: int) -> dict:
    # Footprints shifted east by a tenth of a degree each, so coverage differs per row.
    west = 10 + index / 10
    ring = [[west, 45], [west + 1, 45], [west + 1, 46], [west, 46], [west, 45]]
    return {
        "Id": f"id-{index:03d}",
        "Name": f"S1A_{index:03d}",
        "ContentDate": {"Start": f"2024-08-01T00:{59 - index:02d}:00Z"},
        "GeoFootprint": {"type": "Polygon", "coordinates": [ring]},
    }


class Catalogue:
    """A catalogue of 25 products that counts the requests it answers."""

    def __init__(self) -> None:
        self.items = [_entity(i) for i in range(25)]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        query = parse_qs(urlsplit(str(request.url)).query)
        top = int(query["$top"][0])
        skip = int(query.get("$skip", ["0"])[0])
        body: dict = {"value": self.items[skip : skip + top]}
        if query.get("$count") == ["true"]:
            body["@odata.count"] = len(self.items)
        return httpx.Response(200, json=body)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue()


def _session(catalogue: Catalogue) -> Session:
    return Session(Endpoints(), transport=httpx.MockTransport(catalogue))


async def test_frame_count_and_pages_after_frame_send_no_request(catalogue):
    async with _session(catalogue) as session:
        search = Search(session, **CRITERIA)
        first = await search.frame()
        sent = len(catalogue.requests)
        assert await search.count() == 25
        again = await search.frame()
        pages = [page async for page in search.pages()]
        products = [entity async for entity in search.products()]
    assert len(catalogue.requests) == sent
    assert list(first["Id"]) == list(again["Id"]) == [e["Id"] for e in catalogue.items]
    # The kept pages still give each row its coverage of the AOI.
    pd.testing.assert_series_equal(first["coverage"], again["coverage"])
    assert first["coverage"].iloc[0] == 100.0 and first["coverage"].iloc[5] == 50.0
    assert sum(len(page.entities) for page in pages) == len(products) == 25


async def test_count_asks_once_and_the_pages_come_after(catalogue):
    async with _session(catalogue) as session:
        search = Search(session, **CRITERIA)
        assert await search.count() == 25
        assert await search.count() == 25
        assert len(catalogue.requests) == 1
        await search.frame()
        sent = len(catalogue.requests)
        await search.count()
        await search.frame()
    assert len(catalogue.requests) == sent


async def test_a_run_stopped_early_is_not_kept(catalogue):
    async with _session(catalogue) as session:
        search = Search(session, **CRITERIA)
        async for _ in search.pages():
            break
        df = await search.frame()
        sent = len(catalogue.requests)
        await search.frame()
    assert len(df) == 25
    assert len(catalogue.requests) == sent


async def test_keywords_build_the_same_search_as_validated_params(catalogue):
    async with _session(catalogue) as session:
        built = Search(session, **CRITERIA)
        validated = Search(session, validate_search(**CRITERIA))
        assert built.params == validated.params
        assert built.request_url() == validated.request_url()
        with pytest.raises(TypeError, match="not both"):
            Search(session, validate_search(**CRITERIA), top=5)
        with pytest.raises(QueryError, match="Invalid collection name"):
            Search(session, collection_name="LANDSAT-9")
    assert catalogue.requests == []
