"""Result frames from real catalogue pages, and the AOI coverage column."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from phidown_async.analysis.coverage import coverage_values, parse_footprints
from phidown_async.catalogue.frame import dedupe, entity_coverage, result_frame, to_frame

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"
SQUARE = "POLYGON((10 45,12 45,12 46,10 46,10 45))"
SQUARE_GEOJSON = {
    "type": "Polygon",
    "coordinates": [[[10, 45], [12, 45], [12, 46], [10, 46], [10, 45]]],
}
LEFT_HALF_GEOJSON = {
    "type": "Polygon",
    "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 46], [10, 45]]],
}


def page(number: int) -> dict:
    return json.loads((FIXTURES / f"s1-catalogue-odata_page_{number}.json").read_text())


def all_entities() -> list[dict]:
    return [entity for number in range(1, 6) for entity in page(number)["value"]]


def test_frame_has_one_column_per_property_unchanged():
    first = page(1)["value"]
    df = to_frame(first)
    assert df.shape == (10, 16)
    assert list(df.columns) == list(first[0])
    assert list(df["Id"]) == [entity["Id"] for entity in first]
    assert df["Attributes"].iloc[0] == first[0]["Attributes"]  # list of dicts, not flattened
    assert df["ContentDate"].iloc[0] == {
        "Start": "2014-04-06T01:00:00.000000Z",
        "End": "2014-04-06T01:00:00.000000Z",
    }
    assert df["ContentLength"].iloc[0] == 728976


def framed(entities, aoi):
    """The search's frame of ``entities``: entity columns plus coverage of ``aoi``."""
    return result_frame(entities, entity_coverage(entities, aoi))


def test_frame_of_all_pages_matches_the_count():
    entities = all_entities()
    assert page(1)["@odata.count"] == 47
    df = to_frame(dedupe(entities))
    assert len(df) == 47
    assert df["Id"].is_unique


def test_empty_result_has_no_rows_and_no_columns():
    df = to_frame([])
    assert df.shape == (0, 0)
    result = framed([], SQUARE)
    assert result.shape == (0, 0) and "coverage" not in result.columns


def test_dedupe_keeps_the_first_of_each_id():
    entities = all_entities()
    doubled = entities[:20] + entities + [{"Name": "no id"}, {"Name": "no id either"}]
    unique = dedupe(doubled)
    assert len(unique) == 47 + 2
    assert [e["Id"] for e in unique[:47]] == [e["Id"] for e in entities[:20]] + [
        e["Id"] for e in entities[20:]
    ]
    first = {"Id": "x", "Name": "first"}
    assert dedupe([first, {"Id": "x", "Name": "second"}]) == [first]


def test_fixture_rows_without_footprints_get_nan_coverage():
    df = framed(dedupe(all_entities()), SQUARE)
    assert len(df) == 47
    assert df["coverage"].dtype == "float64"
    assert df["coverage"].isna().all()


@pytest.mark.parametrize(
    ("footprint", "expected"),
    [
        (SQUARE_GEOJSON, 100.0),
        (LEFT_HALF_GEOJSON, 50.0),
        ("POLYGON((10 45,10.5 45,10.5 46,10 46,10 45))", 25.0),
        (json.dumps(LEFT_HALF_GEOJSON), 50.0),
        ("geography'SRID=4326;POLYGON ((10 45, 11 45, 11 46, 10 46, 10 45))'", 50.0),
        ("SRID=4326;POLYGON ((10 45, 11 45, 11 46, 10 46, 10 45))", 50.0),
        ({"type": "Polygon", "coordinates": [[[0, 0], [5, 0], [5, 5], [0, 5], [0, 0]]]}, 0.0),
        ("POLYGON((0 40, 20 40, 20 50, 0 50, 0 40))", 100.0),
    ],
)
def test_polygon_aoi_coverage(footprint, expected):
    assert coverage_values([footprint], SQUARE).tolist() == [expected]


@pytest.mark.parametrize(
    "footprint",
    [
        None,
        float("nan"),
        5,
        "not wkt",
        "{}",
        # A bow-tie is invalid, so its coverage is unknown rather than wrong.
        {"type": "Polygon", "coordinates": [[[10, 45], [12, 46], [12, 45], [10, 46], [10, 45]]]},
        "POLYGON EMPTY",
    ],
)
def test_unusable_footprints_give_nan(footprint):
    assert math.isnan(coverage_values([footprint], SQUARE)[0])


@pytest.mark.parametrize(
    ("aoi", "expected"),
    [
        ("POINT(10.5 45.5)", [100.0, 100.0, 0.0]),
        ("POINT(11 45.5)", [100.0, 100.0, 0.0]),  # on the half's boundary: covered
        ("MULTIPOINT((10.5 45.5), (11.5 45.5))", [100.0, 50.0, 0.0]),
        ("LINESTRING(10 45.5, 12 45.5)", [100.0, 50.0, 0.0]),
        ("LINESTRING(9 45.5, 11 45.5)", [50.0, 50.0, 0.0]),
    ],
)
def test_point_and_line_aois_are_covered_when_inside(aoi, expected):
    far = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    assert coverage_values([SQUARE_GEOJSON, LEFT_HALF_GEOJSON, far], aoi).tolist() == expected


@pytest.mark.parametrize("aoi", [None, "garbage", "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"])
def test_missing_or_invalid_aoi_gives_nan_everywhere(aoi):
    values = coverage_values([SQUARE_GEOJSON, LEFT_HALF_GEOJSON], aoi)
    assert len(values) == 2 and np.isnan(values).all()


def test_coverage_is_rounded_and_capped():
    third = "POLYGON((10 45,10.6666666 45,10.6666666 46,10 46,10 45))"
    assert coverage_values([third], SQUARE).tolist() == [33.33]


def test_coverage_of_burst_rows_reads_the_footprint_string():
    bursts = [
        {
            "Id": "a",
            "BurstId": 15805,
            "Footprint": "geography'SRID=4326;POLYGON ((10 45, 12 45, 12 46, 10 46, 10 45))'",
        },
        {
            "Id": "b",
            "BurstId": 15806,
            "Footprint": "geography'SRID=4326;POLYGON ((10 45, 11 45, 11 46, 10 46, 10 45))'",
        },
        {"Id": "c", "BurstId": 15807, "Footprint": None},
    ]
    result = framed(bursts, SQUARE)
    assert result["coverage"].tolist()[:2] == [100.0, 50.0]
    assert math.isnan(result["coverage"].iloc[2])


def test_geofootprint_wins_and_footprint_fills_gaps():
    rows = [
        {
            "Id": "a",
            "GeoFootprint": LEFT_HALF_GEOJSON,
            "Footprint": f"geography'SRID=4326;{SQUARE}'",
        },
        {"Id": "b", "GeoFootprint": None, "Footprint": f"geography'SRID=4326;{SQUARE}'"},
    ]
    assert framed(rows, SQUARE)["coverage"].tolist() == [50.0, 100.0]


def test_coverage_without_aoi_is_nan_and_keeps_columns():
    result = framed([{"Id": "a", "GeoFootprint": SQUARE_GEOJSON}], None)
    assert list(result.columns) == ["Id", "GeoFootprint", "coverage"]
    assert result["coverage"].isna().all()


def test_frame_without_footprint_columns_gets_nan():
    result = framed([{"Id": "a"}, {"Id": "b"}], SQUARE)
    assert result["coverage"].isna().all() and len(result) == 2


def test_coverage_for_25000_rows():
    rows = []
    for index in range(25_000):
        kind = index % 4
        if kind == 0:
            rows.append({"Id": str(index), "GeoFootprint": SQUARE_GEOJSON})
        elif kind == 1:
            rows.append({"Id": str(index), "GeoFootprint": LEFT_HALF_GEOJSON})
        elif kind == 2:
            rows.append(
                {
                    "Id": str(index),
                    "GeoFootprint": None,
                    "Footprint": "geography'SRID=4326;POLYGON ((10 45, 10.5 45, 10.5 46, "
                    "10 46, 10 45))'",
                }
            )
        else:
            rows.append({"Id": str(index), "GeoFootprint": None})
    result = framed(rows, SQUARE)
    counts = result["coverage"].value_counts(dropna=False)
    assert counts[100.0] == counts[50.0] == counts[25.0] == 6250
    assert result["coverage"].isna().sum() == 6250


def test_parse_footprints_accepts_every_form():
    geometries = parse_footprints(
        [
            SQUARE_GEOJSON,
            json.dumps(SQUARE_GEOJSON),
            SQUARE,
            f"geography'SRID=4326;{SQUARE}'",
            {"type": "Feature", "geometry": SQUARE_GEOJSON, "properties": {}},
            None,
            shapely.box(0, 0, 1, 3),
        ]
    )
    areas = [None if g is None else g.area for g in geometries]
    assert areas == [2.0, 2.0, 2.0, 2.0, 2.0, None, 3.0]
