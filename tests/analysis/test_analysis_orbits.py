"""find_optimal_orbit against a fake async search over a hand-built product frame."""

from __future__ import annotations

from typing import Any

import anyio
import pandas as pd
import pytest

from phidown_async.analysis import find_optimal_orbit, relative_orbits, summarise_direction
from phidown_async.errors import QueryError, ServiceError

# AOI: the unit square 10..11 x 45..46 (European, so ties go DESCENDING).
AOI = "POLYGON((10 45, 11 45, 11 46, 10 46, 10 45))"
ASIAN_AOI = "POLYGON((100 45, 101 45, 101 46, 100 46, 100 45))"
START, END = "2024-08-01T00:00:00Z", "2024-08-31T00:00:00Z"


def box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


FULL = box(9, 44, 12, 47)  # covers the AOI: 100 %
HALF = box(9, 44, 10.5, 47)  # left half: 50 %
QUARTER = box(9, 44, 10.25, 47)  # left quarter: 25 %


def product(name: str, direction: str, orbit: Any, footprint: Any, **extra: Any) -> dict:
    attributes = [
        {"Name": "orbitDirection", "Value": direction, "ValueType": "String"},
        {"Name": "productType", "Value": "IW_SLC__1S", "ValueType": "String"},
    ]
    if orbit is not None:
        attributes.append({"Name": "relativeOrbitNumber", "Value": orbit, "ValueType": "Integer"})
    return {
        "Id": name,
        "Name": name,
        "ContentDate": {"Start": "2024-08-02T06:07:19.614235Z", "End": "2024-08-02T06:07:46Z"},
        "GeoFootprint": footprint,
        "Attributes": attributes,
        # A stale coverage column from elsewhere must not influence the result.
        "coverage": 1.0,
        **extra,
    }


class FakeSearch:
    """Filters a product list by orbit direction, records calls, and checks overlap."""

    def __init__(self, products: list[dict], *, meet: bool = False) -> None:
        self.products = products
        self.calls: list[dict[str, Any]] = []
        self.meet = meet
        self._started = 0
        self._both_started = anyio.Event()

    async def __call__(self, **kwargs: Any) -> pd.DataFrame:
        self.calls.append(kwargs)
        self._started += 1
        if self._started == 2:
            self._both_started.set()
        if self.meet:
            # Only returns once the other direction's search is in flight too.
            with anyio.fail_after(5):
                await self._both_started.wait()
        await anyio.sleep(0)
        direction = kwargs["orbit_direction"]
        rows = [
            p
            for p in self.products
            if any(
                a["Value"] == direction for a in p["Attributes"] if a["Name"] == "orbitDirection"
            )
        ]
        return pd.DataFrame(rows)


PRODUCTS = [
    product("asc-15-a", "ASCENDING", 15, FULL),
    product("asc-15-b", "ASCENDING", "015", FULL),
    product("asc-117", "ASCENDING", 117, HALF),
    product("desc-44-a", "DESCENDING", 44, FULL),
    product("desc-44-b", "DESCENDING", 44, QUARTER),
    product("desc-66", "DESCENDING", 66, HALF),
]


async def test_recommends_the_orbit_that_fully_covers_the_aoi():
    search = FakeSearch(PRODUCTS)
    result = await find_optimal_orbit(search, AOI, START, END)
    assert result == {
        "ascending": {
            "orbits": {
                15: {"avg_coverage": 100.0, "max_coverage": 100.0, "count": 2},
                117: {"avg_coverage": 50.0, "max_coverage": 50.0, "count": 1},
            },
            "best_orbit": 15,
            "max_coverage": 100.0,
        },
        "descending": {
            "orbits": {
                44: {"avg_coverage": 62.5, "max_coverage": 100.0, "count": 2},
                66: {"avg_coverage": 50.0, "max_coverage": 50.0, "count": 1},
            },
            "best_orbit": 44,
            # The real maximum of the direction, not the best orbit's average (62.5).
            "max_coverage": 100.0,
        },
        "recommended": {
            "orbit_direction": "ASCENDING",
            "relative_orbit": 15,
            "expected_coverage": 100.0,
        },
    }


async def test_both_directions_are_searched_concurrently_with_phidown_arguments():
    search = FakeSearch(PRODUCTS, meet=True)
    await find_optimal_orbit(search, AOI, START, END, product_type="GRD", top=50)
    assert sorted(call["orbit_direction"] for call in search.calls) == ["ASCENDING", "DESCENDING"]
    for call in search.calls:
        assert call["collection_name"] == "SENTINEL-1"
        assert call["product_type"] == "GRD"
        assert call["aoi_wkt"] == AOI
        assert call["start_date"] == START
        assert call["end_date"] == END
        assert call["top"] == 50
        assert call["count"] is True


async def test_half_covering_orbit_loses_to_full_one_in_other_direction():
    products = [
        product("asc", "ASCENDING", 88, HALF),
        product("desc", "DESCENDING", 8, FULL),
    ]
    result = await find_optimal_orbit(FakeSearch(products), AOI, START, END)
    assert result["recommended"] == {
        "orbit_direction": "DESCENDING",
        "relative_orbit": 8,
        "expected_coverage": 100.0,
    }
    assert result["ascending"]["orbits"] == {
        88: {"avg_coverage": 50.0, "max_coverage": 50.0, "count": 1}
    }


@pytest.mark.parametrize(("aoi", "direction"), [(AOI, "DESCENDING"), (ASIAN_AOI, "ASCENDING")])
async def test_tie_is_decided_by_the_regional_rule(aoi, direction):
    shift = 0 if aoi == AOI else 90
    products = [
        product("asc", "ASCENDING", 15, box(9 + shift, 44, 12 + shift, 47)),
        product("desc", "DESCENDING", 44, box(9 + shift, 44, 12 + shift, 47)),
    ]
    result = await find_optimal_orbit(FakeSearch(products), aoi, START, END)
    expected_orbit = 44 if direction == "DESCENDING" else 15
    assert result["recommended"] == {
        "orbit_direction": direction,
        "relative_orbit": expected_orbit,
        "expected_coverage": 100.0,
    }


async def test_no_products_at_all():
    result = await find_optimal_orbit(FakeSearch([]), AOI, START, END)
    empty = {"orbits": {}, "best_orbit": None, "max_coverage": 0}
    assert result == {
        "ascending": empty,
        "descending": empty,
        "recommended": {
            "orbit_direction": "DESCENDING",
            "relative_orbit": None,
            "expected_coverage": 0,
        },
    }


async def test_footprint_string_is_used_when_geofootprint_is_missing():
    products = [
        product(
            "desc",
            "DESCENDING",
            44,
            None,
            Footprint="geography'SRID=4326;POLYGON ((9 44, 10.5 44, 10.5 47, 9 47, 9 44))'",
        )
    ]
    result = await find_optimal_orbit(FakeSearch(products), AOI, START, END)
    assert result["descending"]["orbits"] == {
        44: {"avg_coverage": 50.0, "max_coverage": 50.0, "count": 1}
    }


async def test_products_without_footprint_are_counted_out_not_guessed():
    products = [product("asc", "ASCENDING", 15, None), product("desc", "DESCENDING", 44, HALF)]
    result = await find_optimal_orbit(FakeSearch(products), AOI, START, END)
    # No constant fallback: an orbit without any computable coverage reports zeros.
    assert result["ascending"] == {
        "orbits": {15: {"avg_coverage": 0.0, "max_coverage": 0.0, "count": 0}},
        "best_orbit": None,
        "max_coverage": 0.0,
    }
    assert result["recommended"]["orbit_direction"] == "DESCENDING"
    assert result["recommended"]["expected_coverage"] == 50.0


async def test_search_failure_propagates_unwrapped():
    async def failing(**kwargs: Any) -> pd.DataFrame:
        if kwargs["orbit_direction"] == "DESCENDING":
            raise ServiceError("catalogue said 500", status=500)
        await anyio.sleep(0)
        return pd.DataFrame()

    with pytest.raises(ServiceError, match="catalogue said 500"):
        await find_optimal_orbit(failing, AOI, START, END)


@pytest.mark.parametrize(
    ("aoi", "start", "end", "message"),
    [
        (None, START, END, "AOI WKT is required"),
        (AOI, None, END, "Start and end dates are required"),
        (AOI, START, None, "Start and end dates are required"),
    ],
)
async def test_missing_inputs_raise_before_searching(aoi, start, end, message):
    search = FakeSearch(PRODUCTS)
    with pytest.raises(QueryError, match=message):
        await find_optimal_orbit(search, aoi, start, end)
    assert search.calls == []


def test_relative_orbit_from_attributes_or_burst_columns():
    df = pd.DataFrame(
        {
            "Attributes": [
                [{"Name": "relativeOrbitNumber", "Value": "044"}],
                [{"Name": "orbitNumber", "Value": 55030}],
                None,
                [{"Name": "relativeOrbitNumber", "Value": "  "}],
            ],
            "RelativeOrbitNumber": [None, 8, 117.0, None],
        }
    )
    assert relative_orbits(df) == [44, 8, 117, None]


def test_summarise_direction_of_empty_frame():
    assert summarise_direction(pd.DataFrame(), AOI) == {
        "orbits": {},
        "best_orbit": None,
        "max_coverage": 0.0,
    }
