"""How much of an area of interest (AOI) each product or burst footprint covers.

Areas and lengths are computed in **planar degrees**: EPSG:4326 longitude/latitude is treated
as a Cartesian plane. That is a ranking heuristic, not a geodesic measure; it is exact for
"fully inside" and "fully outside", close for small AOIs away from the poles, and wrong for
footprints crossing the antimeridian (they are not split).

Footprints are accepted in every shape CDSE and phidown use: a GeoJSON dict, a GeoJSON string,
plain WKT, EWKT (``SRID=4326;POLYGON (...)``) and the catalogue's
``geography'SRID=4326;POLYGON (...)'`` string. Parsing and the geometry work are vectorised
with shapely 2, so tens of thousands of rows take well under a second.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.errors import GEOSException

__all__ = [
    "add_coverage_column",
    "aoi_coverage",
    "coverage_series",
    "coverage_values",
    "footprints_of",
    "parse_footprints",
    "parse_geometry",
]

# geography'SRID=4326;POLYGON ((...))' or SRID=4326;POLYGON ((...)) -> POLYGON ((...))
_GEOGRAPHY = re.compile(r"^geography\s*'(?P<body>.*)'$", re.IGNORECASE | re.DOTALL)
_SRID = re.compile(r"^SRID\s*=\s*(?P<srid>\d+)\s*;(?P<wkt>.*)$", re.IGNORECASE | re.DOTALL)
_FOOTPRINT_COLUMNS = ("GeoFootprint", "Footprint")


def _footprint_text(value: Any) -> tuple[str, str] | None:
    """``("wkt" | "geojson", text)`` for one value, or None when unusable."""
    if isinstance(value, Mapping):
        if value.get("type") == "Feature":
            return _footprint_text(value.get("geometry"))
        try:
            return "geojson", json.dumps(value)
        except (TypeError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("{"):
        return "geojson", text
    geography = _GEOGRAPHY.match(text)
    if geography:
        text = geography.group("body").strip()
    srid = _SRID.match(text)
    if srid:
        if srid.group("srid") != "4326":
            return None  # planar-degree coverage is meaningless in another CRS
        text = srid.group("wkt").strip()
    return "wkt", text


def parse_footprints(values: Iterable[Any]) -> np.ndarray:
    """Shapely geometries (or None) for footprints in any CDSE/phidown form.

    Anything unparsable, empty or in an SRID other than 4326 becomes None. Parsing is one
    GEOS call per format.
    """
    values = list(values)
    geometries = np.full(len(values), None, dtype=object)
    batches: dict[str, tuple[list[int], list[str]]] = {"wkt": ([], []), "geojson": ([], [])}
    rings: tuple[list[int], list[Any]] = ([], [])
    for index, value in enumerate(values):
        if isinstance(value, shapely.Geometry):
            geometries[index] = value
            continue
        ring = _simple_ring(value)
        if ring is not None:
            rings[0].append(index)
            rings[1].append(ring)
            continue
        parsed = _footprint_text(value)
        if parsed is not None:
            batches[parsed[0]][0].append(index)
            batches[parsed[0]][1].append(parsed[1])
    if rings[0]:
        geometries[rings[0]] = _polygons(rings[1])
    readers = {"wkt": shapely.from_wkt, "geojson": shapely.from_geojson}
    for kind, (indices, texts) in batches.items():
        if indices:
            geometries[indices] = readers[kind](np.array(texts, dtype=object), on_invalid="ignore")
    for index, geometry in enumerate(geometries):
        if geometry is not None and geometry.is_empty:
            geometries[index] = None
    return geometries


def _simple_ring(value: Any) -> list | None:
    """The ring of a GeoJSON Polygon without holes (CDSE's usual footprint), else None."""
    if not isinstance(value, Mapping) or value.get("type") != "Polygon":
        return None
    coordinates = value.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) != 1:
        return None
    ring = coordinates[0]
    if not isinstance(ring, list) or len(ring) < 4:
        return None
    return ring


def _polygons(rings: list[list]) -> np.ndarray:
    """Polygons from rings in one GEOS call (tens of thousands of footprints in milliseconds)."""
    try:
        lengths = np.fromiter((len(ring) for ring in rings), dtype=np.intp, count=len(rings))
        coords = np.array([point for ring in rings for point in ring], dtype=float)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError("not 2-D coordinates")
        indices = np.repeat(np.arange(len(rings)), lengths)
        return shapely.polygons(shapely.linearrings(coords, indices=indices))
    except (ValueError, TypeError, GEOSException):
        # A malformed ring somewhere: parse each one on its own, bad ones become None.
        return np.array([_polygon(ring) for ring in rings], dtype=object)


def _polygon(ring: list) -> shapely.Geometry | None:
    try:
        return shapely.polygons(np.array(ring, dtype=float))
    except (ValueError, TypeError, GEOSException):
        return None


def parse_geometry(value: Any) -> shapely.Geometry | None:
    """One footprint or AOI as a shapely geometry, or None (see :func:`parse_footprints`)."""
    return parse_footprints([value])[0]


def _ratios(aoi: shapely.Geometry, footprints: np.ndarray) -> np.ndarray:
    """Covered share of ``aoi`` (0..1) for each (valid) footprint."""
    if aoi.area > 0:
        # Most footprints hold the whole AOI; a containment test is far cheaper than the
        # overlay an intersection takes, so only the others are intersected.
        ratios = np.ones(len(footprints))
        partial = ~shapely.contains(footprints, aoi)
        if partial.any():
            overlap = shapely.intersection(footprints[partial], aoi)
            ratios[partial] = shapely.area(overlap) / aoi.area
        return ratios
    if aoi.length > 0:
        return shapely.length(shapely.intersection(footprints, aoi)) / aoi.length
    # Points (or a line collapsed on one spot): share of the AOI's points inside or on the
    # boundary, so a POINT inside a footprint is 100 % covered.
    points = shapely.points(shapely.get_coordinates(aoi))
    covered = np.zeros(len(footprints))
    for point in points:
        covered += shapely.intersects(footprints, point)
    return covered / len(points)


def coverage_values(footprints: Iterable[Any], aoi: Any) -> np.ndarray:
    """Percent (0-100, two decimals) of the AOI covered by each footprint, planar degrees.

    Polygon AOIs use the area ratio, line AOIs the share of their length, point AOIs the
    share of their points. Missing, unparsable or invalid footprints (or AOI) give NaN.

    Args:
        footprints: footprint values in any form :func:`parse_footprints` accepts.
        aoi: the AOI (WKT, or any form :func:`parse_geometry` accepts); None gives NaN.
    """
    geometries = parse_footprints(footprints)
    result = np.full(len(geometries), np.nan)
    shape = parse_geometry(aoi)
    if shape is None or not shape.is_valid or not len(geometries):
        return result
    usable = np.array([g is not None for g in geometries], dtype=bool)
    usable[usable] = shapely.is_valid(geometries[usable])
    if not usable.any():
        return result
    try:
        result[usable] = _ratios(shape, geometries[usable])
    except GEOSException:
        # One pathological pair fails the whole vectorised call; retry row by row.
        for index in np.flatnonzero(usable):
            try:
                result[index] = _ratios(shape, geometries[index : index + 1])[0]
            except GEOSException:
                result[index] = np.nan
    return np.minimum(100.0, np.round(result * 100, 2))


def aoi_coverage(aoi: Any, footprint: Any) -> float | None:
    """Percent of ``aoi`` covered by one footprint, or None when either is unusable."""
    value = coverage_values([footprint], aoi)[0]
    return None if math.isnan(value) else float(value)


def _either(value: Any, other: Any) -> Any:
    return value if isinstance(value, Mapping | str) else other


def footprints_of(df: pd.DataFrame) -> list[Any]:
    """Each row's footprint: ``GeoFootprint``, else ``Footprint`` (products and bursts)."""
    columns = [column for column in _FOOTPRINT_COLUMNS if column in df.columns]
    if not columns:
        return [None] * len(df)
    primary = df[columns[0]].tolist()
    if len(columns) == 1:
        return primary
    fallback = df[columns[1]].tolist()
    return [_either(value, other) for value, other in zip(primary, fallback, strict=True)]


def entity_footprints(entities: Iterable[Mapping[str, Any]]) -> list[Any]:
    """:func:`footprints_of` for catalogue entities not yet in a frame."""
    first, second = _FOOTPRINT_COLUMNS
    return [_either(entity.get(first), entity.get(second)) for entity in entities]


def coverage_series(df: pd.DataFrame, aoi: Any) -> pd.Series:
    """Coverage of ``aoi`` by every row's footprint, a float Series named ``coverage``."""
    values = coverage_values(footprints_of(df), aoi)
    return pd.Series(values, index=df.index, dtype="float64", name="coverage")


def add_coverage_column(df: pd.DataFrame, aoi: Any) -> pd.DataFrame:
    """A copy of ``df`` with a ``coverage`` column (see :func:`coverage_series`)."""
    return df.assign(coverage=coverage_series(df, aoi))
