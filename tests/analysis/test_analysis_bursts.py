"""find_optimal_bursts against a fake async search over hand-built bursts."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import pytest

from phidown_async.analysis import find_optimal_bursts, rank_bursts, subswath_order
from phidown_async.errors import QueryError

AOI = "POLYGON((10 45, 11 45, 11 46, 10 46, 10 45))"  # Europe: DESCENDING by default
TOKYO = "POLYGON((139.6 35.6, 139.8 35.6, 139.8 35.8, 139.6 35.8, 139.6 35.6))"
START, END = "2024-08-02T00:00:00Z", "2024-08-15T00:00:00Z"
FULL = "geography'SRID=4326;POLYGON ((9 44, 12 44, 12 47, 9 47, 9 44))'"
HALF = "geography'SRID=4326;POLYGON ((9 44, 10.5 44, 10.5 47, 9 47, 9 44))'"


def burst(name: str, swath: Any, footprint: str, start: str, orbit: int = 8) -> dict[str, Any]:
    return {
        "Id": name,
        "Name": name,
        "BurstId": 15805,
        "SwathIdentifier": swath,
        "PolarisationChannels": "VV",
        "OrbitDirection": "DESCENDING",
        "RelativeOrbitNumber": orbit,
        "ContentDate": {"Start": start, "End": start},
        "Footprint": footprint,
    }


BURSTS = [
    burst("iw3", "IW3", FULL, "2024-08-02T06:07:23.426535Z"),
    burst("iw1-half", "IW1", HALF, "2024-08-03T06:07:23Z"),
    burst("iw1", "IW1", FULL, "2024-08-04T06:07:23.426Z"),
    burst("iw2", "IW2", FULL, "2024-08-05T06:07:23+00:00"),
]


class RecordingSearch:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> pd.DataFrame:
        self.calls.append(kwargs)
        return pd.DataFrame(self.rows)


async def test_bursts_are_ordered_by_coverage_then_iw1_iw2_iw3():
    result = await find_optimal_bursts(RecordingSearch(BURSTS), AOI, START, END)
    assert result["Name"].tolist() == ["iw1", "iw2", "iw3", "iw1-half"]
    assert result["coverage"].tolist() == [100.0, 100.0, 100.0, 50.0]
    assert result["subswath_priority"].tolist() == [0, 1, 2, 0]
    # Original index labels are kept.
    assert result.index.tolist() == [2, 3, 0, 1]


async def test_search_gets_phidown_burst_arguments_and_regional_direction():
    search = RecordingSearch(BURSTS)
    await find_optimal_bursts(search, AOI, START, END, relative_orbit_number=8)
    assert search.calls == [
        {
            "burst_mode": True,
            "orbit_direction": "DESCENDING",
            "aoi_wkt": AOI,
            "start_date": START,
            "end_date": END,
            "polarisation_channels": "VV",
            "relative_orbit_number": 8,
            "top": 1000,
            "count": True,
        }
    ]


async def test_asian_aoi_searches_ascending_and_explicit_direction_wins():
    search = RecordingSearch([])
    await find_optimal_bursts(search, TOKYO, START, END)
    await find_optimal_bursts(
        search, TOKYO, START, END, orbit_direction="DESCENDING", polarisation="VH"
    )
    assert [c["orbit_direction"] for c in search.calls] == ["ASCENDING", "DESCENDING"]
    assert search.calls[1]["polarisation_channels"] == "VH"


async def test_preferred_subswath_goes_first_then_the_default_order():
    result = await find_optimal_bursts(
        RecordingSearch(BURSTS), AOI, START, END, preferred_subswath=["IW3"]
    )
    assert result["Name"].tolist() == ["iw3", "iw1", "iw2", "iw1-half"]
    assert subswath_order("IW2") == ["IW2", "IW1", "IW3"]
    assert subswath_order(None) == ["IW1", "IW2", "IW3"]


async def test_added_columns_have_dates_orbits_and_unknown_swaths_last():
    rows = [*BURSTS, burst("ew1", "EW1", FULL, "2024-08-06T06:07:23.000000Z", orbit=117)]
    result = await find_optimal_bursts(RecordingSearch(rows), AOI, START, END)
    by_name = result.set_index("Name")
    # Every ISO layout parses (3 and 6 fraction digits, none, +00:00).
    assert by_name.loc["iw3", "acquisition_date"] == dt.date(2024, 8, 2)
    assert by_name.loc["iw1", "acquisition_date"] == dt.date(2024, 8, 4)
    assert by_name.loc["iw2", "acquisition_date"] == dt.date(2024, 8, 5)
    assert by_name.loc["ew1", "subswath_priority"] == 3
    assert by_name.loc["ew1", "relative_orbit"] == 117
    assert result["Name"].tolist() == ["iw1", "iw2", "iw3", "ew1", "iw1-half"]


async def test_no_bursts_returns_an_empty_frame():
    result = await find_optimal_bursts(RecordingSearch([]), AOI, START, END)
    assert isinstance(result, pd.DataFrame)
    assert len(result) == 0


@pytest.mark.parametrize(
    ("aoi", "start", "end", "message"),
    [
        (None, START, END, "AOI WKT is required"),
        (AOI, None, END, "Start and end dates are required"),
        ("GEOMETRYCOLLECTION(POINT(1 2))", START, END, "Could not parse AOI WKT"),
    ],
)
async def test_bad_inputs_raise_before_searching(aoi, start, end, message):
    search = RecordingSearch(BURSTS)
    with pytest.raises(QueryError, match=message):
        await find_optimal_bursts(search, aoi, start, end)
    assert search.calls == []


def test_rank_bursts_without_swath_or_dates_and_input_left_unchanged():
    df = pd.DataFrame({"Footprint": [HALF, None, FULL]})
    ranked = rank_bursts(df, AOI)
    assert ranked["subswath_priority"].tolist() == [3, 3, 3]
    assert ranked["coverage"].iloc[:2].tolist() == [100.0, 50.0]
    assert math.isnan(ranked["coverage"].iloc[2])
    assert "acquisition_date" not in ranked.columns
    assert list(df.columns) == ["Footprint"]
