"""Coverage of an AOI by footprints in every form CDSE and phidown use."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from phidown_async.analysis import add_coverage_column, aoi_coverage, coverage_series

SQUARE = "POLYGON((10 45, 12 45, 12 46, 10 46, 10 45))"
LEFT_HALF = "POLYGON((10 45, 11 45, 11 46, 10 46, 10 45))"
LEFT_QUARTER = "POLYGON((10 45, 10.5 45, 10.5 46, 10 46, 10 45))"
LEFT_HALF_GEOJSON = {
    "type": "Polygon",
    "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 46], [10, 45]]],
}


def test_same_square_is_fully_covered():
    assert aoi_coverage(SQUARE, SQUARE) == 100.0


def test_polygon_halves_and_quarters():
    assert aoi_coverage(SQUARE, LEFT_HALF) == 50.0
    assert aoi_coverage(SQUARE, LEFT_QUARTER) == 25.0


def test_footprint_larger_than_aoi_caps_at_100():
    assert aoi_coverage(LEFT_HALF, SQUARE) == 100.0


def test_disjoint_footprint_gives_zero():
    assert aoi_coverage(SQUARE, "POLYGON((20 45, 21 45, 21 46, 20 46, 20 45))") == 0.0


@pytest.mark.parametrize(
    "footprint",
    [
        LEFT_HALF_GEOJSON,
        json.dumps(LEFT_HALF_GEOJSON),
        {"type": "Feature", "properties": {}, "geometry": LEFT_HALF_GEOJSON},
        "geography'SRID=4326;POLYGON ((10 45, 11 45, 11 46, 10 46, 10 45))'",
        "SRID=4326;POLYGON ((10 45, 11 45, 11 46, 10 46, 10 45))",
        "  polygon ((10 45, 11 45, 11 46, 10 46, 10 45))  ",
    ],
    ids=["geojson-dict", "geojson-str", "feature", "cdse-geography", "ewkt", "lower-wkt"],
)
def test_every_footprint_form_parses(footprint):
    assert aoi_coverage(SQUARE, footprint) == 50.0


def test_point_inside_and_outside():
    assert aoi_coverage("POINT(11 45.5)", SQUARE) == 100.0
    assert aoi_coverage("POINT(13 45.5)", SQUARE) == 0.0


def test_point_on_the_footprint_edge_counts_as_covered():
    assert aoi_coverage("POINT(12 45.5)", SQUARE) == 100.0


def test_multipoint_gives_share_of_points_covered():
    assert aoi_coverage("MULTIPOINT((11 45.5), (13 45.5))", SQUARE) == 50.0


def test_linestring_half_inside():
    assert aoi_coverage("LINESTRING(11 45.5, 13 45.5)", SQUARE) == 50.0


def test_multilinestring_by_length():
    # 2 degrees inside of 4 in total.
    aoi = "MULTILINESTRING((10 45.5, 12 45.5), (20 45.5, 22 45.5))"
    assert aoi_coverage(aoi, SQUARE) == 50.0


def test_multipolygon_aoi_area_ratio():
    aoi = (
        "MULTIPOLYGON(((10 45, 11 45, 11 46, 10 46, 10 45)), ((20 45, 21 45, 21 46, 20 46, 20 45)))"
    )
    assert aoi_coverage(aoi, SQUARE) == 50.0


def test_coverage_rounds_to_two_decimals():
    third = "POLYGON((10 45, 10 46, 10.6666666 46, 10.6666666 45, 10 45))"
    assert aoi_coverage(SQUARE, third) == 33.33


@pytest.mark.parametrize(
    "footprint",
    [
        None,
        math.nan,
        "",
        "not wkt at all",
        "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))",  # self-intersecting bow tie
        "SRID=3857;POLYGON ((10 45, 11 45, 11 46, 10 46, 10 45))",
        {"type": "Polygon"},
        42,
    ],
)
def test_unusable_footprints_give_none(footprint):
    assert aoi_coverage(SQUARE, footprint) is None


def test_invalid_aoi_gives_none():
    assert aoi_coverage("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", SQUARE) is None
    assert aoi_coverage(None, SQUARE) is None


def test_series_prefers_geofootprint_and_falls_back_to_footprint():
    df = pd.DataFrame(
        {
            "GeoFootprint": [LEFT_HALF_GEOJSON, None, None],
            "Footprint": [
                "geography'SRID=4326;POLYGON ((10 45, 10.5 45, 10.5 46, 10 46, 10 45))'",
                "geography'SRID=4326;POLYGON ((10 45, 10.5 45, 10.5 46, 10 46, 10 45))'",
                None,
            ],
        },
        index=[7, 8, 9],
    )
    series = coverage_series(df, SQUARE)
    assert series.name == "coverage"
    assert list(series.index) == [7, 8, 9]
    assert series.loc[7] == 50.0
    assert series.loc[8] == 25.0
    assert math.isnan(series.loc[9])


def test_add_coverage_column_returns_a_copy():
    df = pd.DataFrame({"GeoFootprint": [LEFT_HALF_GEOJSON]})
    result = add_coverage_column(df, SQUARE)
    assert result["coverage"].tolist() == [50.0]
    assert "coverage" not in df.columns
