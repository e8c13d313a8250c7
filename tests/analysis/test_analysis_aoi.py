"""AOI centroid (mean of vertices) and the regional orbit-direction rule."""

from __future__ import annotations

import pytest

from phidown_async.analysis import get_aoi_centroid, get_recommended_orbit_direction
from phidown_async.errors import QueryError

ROME = "POLYGON((12.4 41.8, 12.6 41.8, 12.6 42.0, 12.4 42.0, 12.4 41.8))"
NEW_YORK = "POLYGON((-74.1 40.6, -73.9 40.6, -73.9 40.8, -74.1 40.8, -74.1 40.6))"
TOKYO = "POLYGON((139.6 35.6, 139.8 35.6, 139.8 35.8, 139.6 35.8, 139.6 35.6))"
SYDNEY = "POLYGON((151.1 -33.9, 151.3 -33.9, 151.3 -33.7, 151.1 -33.7, 151.1 -33.9))"


@pytest.mark.parametrize(
    ("wkt", "expected"),
    [
        ("POLYGON((10 45, 12 45, 12 47, 10 47, 10 45))", (11.0, 46.0)),
        ("POINT(12.5 41.9)", (12.5, 41.9)),
        ("MULTIPOINT((10 40), (14 44))", (12.0, 42.0)),
        ("LINESTRING(10 40, 14 44)", (12.0, 42.0)),
        ("MULTILINESTRING((10 40, 12 42), (14 44, 16 46))", (13.0, 43.0)),
        (
            "MULTIPOLYGON(((10 40, 12 40, 12 42, 10 42, 10 40)), "
            "((14 44, 16 44, 16 46, 14 46, 14 44)))",
            (13.0, 43.0),
        ),
    ],
)
def test_centroid_is_mean_of_vertices(wkt, expected):
    assert get_aoi_centroid(wkt) == pytest.approx(expected)


def test_point_centroid_is_exact():
    assert get_aoi_centroid("POINT(12.5 41.9)") == (12.5, 41.9)


def test_polygon_hole_is_ignored():
    wkt = "POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (3 3, 3.5 3, 3.5 3.5, 3 3.5, 3 3))"
    assert get_aoi_centroid(wkt) == (2.0, 2.0)


@pytest.mark.parametrize(
    ("wkt", "direction"),
    [
        (ROME, "DESCENDING"),
        (NEW_YORK, "DESCENDING"),
        ("POINT(12.5 41.9)", "DESCENDING"),
        (TOKYO, "ASCENDING"),
        (SYDNEY, "ASCENDING"),
        ("POINT(60 10)", "ASCENDING"),
        ("POINT(59.99 10)", "DESCENDING"),
    ],
)
def test_regional_rule(wkt, direction):
    assert get_recommended_orbit_direction(wkt) == direction


def test_missing_aoi_message():
    with pytest.raises(ValueError, match=r"^AOI WKT is not set$"):
        get_aoi_centroid(None)


@pytest.mark.parametrize(
    ("wkt", "detail"),
    [
        (
            "GEOMETRYCOLLECTION(POINT(1 2))",
            "Unsupported AOI WKT geometry type 'GEOMETRYCOLLECTION'",
        ),
        ("SRID=4326;POINT(1 2)", "Unsupported AOI WKT geometry type 'SRID'"),
        ("POLYGON EMPTY", "AOI WKT geometry cannot be EMPTY"),
        ("POINT(12.4)", "must be valid WKT"),
        ("POINT(1 2 3)", "must be valid WKT"),
        ("(1 2)", "missing geometry type"),
    ],
)
def test_unparsable_aoi_messages(wkt, detail):
    with pytest.raises(QueryError, match=r"^Could not parse AOI WKT: ") as caught:
        get_recommended_orbit_direction(wkt)
    assert detail in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_non_string_aoi_is_a_type_error():
    with pytest.raises(TypeError, match="must be a string"):
        get_aoi_centroid(12)
