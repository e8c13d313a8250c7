"""Catalogue JSON entities -> the pandas DataFrame phidown returns, plus AOI coverage (pure).

The frame has one column per top-level JSON property, unchanged (``Attributes`` stays a list
of dicts, ``ContentDate`` a dict, ``GeoFootprint`` a GeoJSON dict, ``Footprint`` CDSE's
``geography'SRID=4326;...'`` string). The only added column is ``coverage``.

Coverage is computed in **planar degrees**: longitude/latitude are treated as a Cartesian
plane. It is a ranking heuristic, exact for "fully inside" and "fully outside", close for
small AOIs away from the poles, wrong for footprints crossing the antimeridian.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.errors import GEOSException

__all__ = ["add_coverage", "coverage_values", "dedupe", "parse_footprints", "to_frame"]

# geography'SRID=4326;POLYGON ((...))' or SRID=4326;POLYGON ((...)) -> POLYGON ((...))
_GEOGRAPHY = re.compile(r"^geography\s*'(?P<body>.*)'$", re.IGNORECASE | re.DOTALL)
_SRID = re.compile(r"^SRID\s*=\s*\d+\s*;(?P<wkt>.*)$", re.IGNORECASE | re.DOTALL)
_FOOTPRINT_COLUMNS = ("GeoFootprint", "Footprint")


def to_frame(entities: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with one row per entity and one column per top-level property.

    An empty list gives a frame with 0 rows and 0 columns, as phidown's.
    """
    return pd.DataFrame(list(entities))


def dedupe(entities: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Entities with repeated ``Id`` removed, keeping the first; those without ``Id`` stay."""
    seen: set[Any] = set()
    unique = []
    for entity in entities:
        key = entity.get("Id")
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        unique.append(entity)
    return unique


def _footprint_text(value: Any) -> tuple[str, str] | None:
    """``("wkt" | "geojson", text)`` for one footprint value, or None when unusable."""
    if isinstance(value, Mapping):
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
        text = srid.group("wkt").strip()
    return "wkt", text


def parse_footprints(values: Iterable[Any]) -> np.ndarray:
    """Shapely geometries (or None) for footprints in any CDSE/phidown form.

    Accepts shapely geometries, GeoJSON dicts, GeoJSON strings, WKT, EWKT
    (``SRID=4326;...``) and the catalogue's ``geography'SRID=4326;...'`` string; anything
    unparsable becomes None.
    Parsing is vectorised (one GEOS call per format).
    """
    values = list(values)
    geometries = np.full(len(values), None, dtype=object)
    batches: dict[str, tuple[list[int], list[str]]] = {"wkt": ([], []), "geojson": ([], [])}
    for index, value in enumerate(values):
        if isinstance(value, shapely.Geometry):
            geometries[index] = value
            continue
        parsed = _footprint_text(value)
        if parsed is not None:
            batches[parsed[0]][0].append(index)
            batches[parsed[0]][1].append(parsed[1])
    readers = {"wkt": shapely.from_wkt, "geojson": shapely.from_geojson}
    for kind, (indices, texts) in batches.items():
        if indices:
            geometries[indices] = readers[kind](np.array(texts, dtype=object), on_invalid="ignore")
    return geometries


def _ratios(aoi: shapely.Geometry, footprints: np.ndarray) -> np.ndarray:
    """Covered share of ``aoi`` (0..1) for each (valid) footprint."""
    if aoi.area > 0:
        return shapely.area(shapely.intersection(footprints, aoi)) / aoi.area
    if aoi.length > 0:
        return shapely.length(shapely.intersection(footprints, aoi)) / aoi.length
    # Points (or a line collapsed on one spot): share of the AOI's points inside or on the
    # boundary, so a POINT inside a footprint is 100 % covered.
    points = shapely.points(shapely.get_coordinates(aoi))
    covered = np.zeros(len(footprints))
    for point in points:
        covered += shapely.intersects(footprints, point)
    return covered / len(points)


def coverage_values(footprints: Iterable[Any], aoi_wkt: str | None) -> np.ndarray:
    """Percent (0-100, two decimals) of the AOI covered by each footprint, planar degrees.

    Polygon AOIs use the area ratio, line AOIs the share of their length, point AOIs the
    share of their points. Missing, unparsable or invalid footprints (or AOI) give NaN.

    Args:
        footprints: footprint values in any form :func:`parse_footprints` accepts.
        aoi_wkt: the AOI in WKT; None gives NaN everywhere.
    """
    geometries = parse_footprints(footprints)
    result = np.full(len(geometries), np.nan)
    aoi = shapely.from_wkt(aoi_wkt, on_invalid="ignore") if isinstance(aoi_wkt, str) else None
    if aoi is None or aoi.is_empty or not aoi.is_valid or not len(geometries):
        return result
    usable = shapely.is_valid(geometries) & ~shapely.is_empty(geometries)
    if not usable.any():
        return result
    try:
        result[usable] = _ratios(aoi, geometries[usable])
    except GEOSException:
        # One pathological pair fails the whole vectorised call; retry row by row.
        for index in np.flatnonzero(usable):
            try:
                result[index] = _ratios(aoi, geometries[index : index + 1])[0]
            except GEOSException:
                result[index] = np.nan
    return np.minimum(100.0, np.round(result * 100, 2))


def _footprints_of(df: pd.DataFrame) -> list[Any]:
    columns = [column for column in _FOOTPRINT_COLUMNS if column in df.columns]
    if not columns:
        return [None] * len(df)
    primary = df[columns[0]].tolist()
    if len(columns) == 1:
        return primary
    # A row whose GeoFootprint is null falls back to its Footprint string.
    fallback = df[columns[1]].tolist()
    return [
        value if isinstance(value, Mapping | str) else other
        for value, other in zip(primary, fallback, strict=True)
    ]


def add_coverage(
    df: pd.DataFrame | None, aoi_wkt: str | None, burst_mode: bool = False
) -> pd.DataFrame | None:
    """A copy of ``df`` with a float ``coverage`` column (see :func:`coverage_values`).

    Footprints come from ``GeoFootprint``, else ``Footprint`` (per row, both modes). A None
    or empty frame is returned as is, without a coverage column (phidown's behaviour); no AOI
    gives NaN in every row.

    Args:
        df: a result frame from :func:`to_frame`.
        aoi_wkt: the search's AOI in WKT, or None.
        burst_mode: whether the rows are bursts (accepted for phidown parity; the footprint
            lookup is the same in both modes).
    """
    if df is None or df.empty:
        return df
    values = coverage_values(_footprints_of(df), aoi_wkt)
    return df.assign(coverage=values)
