"""How much of an area of interest (AOI) a product or burst footprint covers.

Areas and lengths are computed in **planar degrees**: EPSG:4326 longitude/latitude is treated
as a Cartesian plane. That is a ranking heuristic, not a geodesic measure; it is exact for
"fully inside" and "fully outside", close for small AOIs away from the poles, and wrong for
footprints crossing the antimeridian (they are not split).

Footprints are accepted in every shape CDSE and phidown use: a GeoJSON dict, a GeoJSON string,
plain WKT, EWKT (``SRID=4326;POLYGON (...)``) and the catalogue's
``geography'SRID=4326;POLYGON (...)'`` string.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
import shapely
import shapely.wkt
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

__all__ = ["add_coverage_column", "aoi_coverage", "coverage_series", "parse_geometry"]

# geography'SRID=4326;POLYGON ((...))'  ->  POLYGON ((...)); the SRID group is optional.
_GEOGRAPHY = re.compile(r"^geography\s*'(?P<body>.*)'$", re.IGNORECASE | re.DOTALL)
_SRID = re.compile(r"^SRID\s*=\s*(?P<srid>\d+)\s*;(?P<wkt>.*)$", re.IGNORECASE | re.DOTALL)


def parse_geometry(value: Any) -> BaseGeometry | None:
    """Parse a footprint or AOI into a shapely geometry.

    Args:
        value: a shapely geometry, a GeoJSON dict (geometry or Feature), a GeoJSON string,
            WKT, EWKT with ``SRID=4326;`` or CDSE's ``geography'SRID=4326;...'`` string.

    Returns:
        The geometry, or None when the value is missing, unparsable, empty or in an SRID
        other than 4326 (planar-degree coverage would be meaningless there).
    """
    try:
        geometry = _parse(value)
    except Exception:  # malformed input of any kind means "no usable footprint"
        return None
    if geometry is None or geometry.is_empty:
        return None
    return geometry


def _parse(value: Any) -> BaseGeometry | None:
    if value is None:
        return None
    if isinstance(value, BaseGeometry):
        return value
    if isinstance(value, Mapping):
        if value.get("type") == "Feature":
            return _parse(value.get("geometry"))
        return shape(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("{"):
        return _parse(json.loads(text))
    geography = _GEOGRAPHY.match(text)
    if geography:
        text = geography.group("body").strip()
    srid = _SRID.match(text)
    if srid:
        if srid.group("srid") != "4326":
            return None
        text = srid.group("wkt").strip()
    return shapely.wkt.loads(text)


def aoi_coverage(aoi: Any, footprint: Any) -> float | None:
    """Percent (0-100, 2 decimals) of the AOI covered by a footprint, in planar degrees.

    Polygon AOIs give the area ratio; line AOIs the share of their length inside the
    footprint; point AOIs the share of their points inside (a POINT is 100 or 0). Points on
    the footprint's boundary count as covered.

    Args:
        aoi: the AOI, in any form :func:`parse_geometry` accepts (usually WKT).
        footprint: the footprint, likewise.

    Returns:
        The percentage, or None when either geometry is missing, unparsable or invalid.
    """
    aoi_geometry = parse_geometry(aoi)
    if aoi_geometry is None or not aoi_geometry.is_valid:
        return None
    return _coverage(aoi_geometry, parse_geometry(footprint))


def _coverage(aoi: BaseGeometry, footprint: BaseGeometry | None) -> float | None:
    if footprint is None or not footprint.is_valid:
        return None
    try:
        if aoi.area > 0:
            ratio = aoi.intersection(footprint).area / aoi.area
        elif aoi.length > 0:
            ratio = aoi.intersection(footprint).length / aoi.length
        else:
            # Points, or a line collapsed onto one spot: count the vertices covered.
            points = shapely.points(shapely.get_coordinates(aoi))
            ratio = float(shapely.covers(footprint, points).mean())
    except GEOSException:
        return None
    return min(100.0, round(ratio * 100, 2))


def coverage_series(df: pd.DataFrame, aoi: Any) -> pd.Series:
    """Coverage of ``aoi`` by every row's footprint, as a float Series named ``coverage``.

    Each row uses ``GeoFootprint`` and falls back to ``Footprint`` when that is missing, so
    product and burst frames both work. Rows without a usable footprint get NaN; an invalid
    or missing AOI gives NaN everywhere.

    Args:
        df: a phidown-shaped result frame.
        aoi: the AOI (WKT or any form :func:`parse_geometry` accepts).
    """
    aoi_geometry = parse_geometry(aoi)
    if aoi_geometry is not None and not aoi_geometry.is_valid:
        aoi_geometry = None
    values: list[float] = []
    for row in range(len(df)):
        footprint = None
        for column in ("GeoFootprint", "Footprint"):
            if column in df.columns:
                footprint = parse_geometry(df[column].iloc[row])
                if footprint is not None:
                    break
        value = None if aoi_geometry is None else _coverage(aoi_geometry, footprint)
        values.append(math.nan if value is None else value)
    return pd.Series(values, index=df.index, dtype="float64", name="coverage")


def add_coverage_column(df: pd.DataFrame, aoi: Any) -> pd.DataFrame:
    """Return a copy of ``df`` with a ``coverage`` column computed by :func:`coverage_series`.

    Args:
        df: a phidown-shaped result frame (left unchanged).
        aoi: the AOI (WKT or any form :func:`parse_geometry` accepts).
    """
    result = df.copy()
    result["coverage"] = coverage_series(df, aoi)
    return result
