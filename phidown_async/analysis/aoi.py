"""AOI centroid and phidown's regional rule for choosing a Sentinel-1 orbit direction.

Europe and the Americas (centroid longitude in [-180, 60)) are mapped best from DESCENDING
passes, Asia and Australia (longitude >= 60) from ASCENDING ones. The "centroid" is phidown's:
the arithmetic mean of the AOI's vertices, not its area centroid.
"""

from __future__ import annotations

import re

import shapely
import shapely.wkt
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from phidown_async.errors import QueryError, QueryTypeError

__all__ = [
    "ASIA_AUSTRALIA_LON_BOUNDS",
    "EUROPE_AMERICA_LON_BOUNDS",
    "SUPPORTED_AOI_TYPES",
    "get_aoi_centroid",
    "get_recommended_orbit_direction",
    "parse_aoi",
]

SUPPORTED_AOI_TYPES = (
    "POINT",
    "MULTIPOINT",
    "LINESTRING",
    "MULTILINESTRING",
    "POLYGON",
    "MULTIPOLYGON",
)
EUROPE_AMERICA_LON_BOUNDS = (-180, 60)
ASIA_AUSTRALIA_LON_BOUNDS = (60, 180)

_TYPE = re.compile(r"^([A-Za-z]+)(.*)$", re.DOTALL)


def parse_aoi(aoi_wkt: str | None) -> BaseGeometry:
    """Parse an AOI given as WKT of one of the six supported geometry types.

    Args:
        aoi_wkt: POINT, MULTIPOINT, LINESTRING, MULTILINESTRING, POLYGON or MULTIPOLYGON WKT,
            two-dimensional (lon lat).

    Raises:
        QueryError: ``AOI WKT is not set`` when empty/None, else
            ``Could not parse AOI WKT: <detail>`` (a ValueError, as in phidown).
        QueryTypeError: ``aoi_wkt`` is not a string.
    """
    if not aoi_wkt:
        raise QueryError("AOI WKT is not set")
    if not isinstance(aoi_wkt, str):
        raise QueryTypeError("The 'aoi_wkt' parameter must be a string")
    text = " ".join(aoi_wkt.split())
    if not text:
        raise _unparsable("The 'aoi_wkt' parameter cannot be empty")
    match = _TYPE.match(text)
    if not match:
        raise _unparsable("The 'aoi_wkt' parameter must be valid WKT: missing geometry type")
    geometry_type, body = match.group(1).upper(), match.group(2).strip()
    if geometry_type not in SUPPORTED_AOI_TYPES:
        raise _unparsable(
            f"Unsupported AOI WKT geometry type '{geometry_type}'. "
            f"Supported types: {', '.join(SUPPORTED_AOI_TYPES)}"
        )
    if body.upper() == "EMPTY":
        raise _unparsable("AOI WKT geometry cannot be EMPTY")
    try:
        geometry = shapely.wkt.loads(text)
    except GEOSException as exc:
        raise _unparsable(f"The 'aoi_wkt' parameter must be valid WKT: {exc}") from None
    if geometry.has_z:
        raise _unparsable(
            "The 'aoi_wkt' parameter must be valid WKT: coordinates must be 'lon lat'"
        )
    return geometry


def _unparsable(detail: str) -> QueryError:
    return QueryError(f"Could not parse AOI WKT: {detail}")


def get_aoi_centroid(aoi_wkt: str | None) -> tuple[float, float]:
    """Mean of the AOI's vertices as ``(lon, lat)``.

    POINT gives itself; (MULTI)POINT and (MULTI)LINESTRING use every vertex; POLYGON and
    MULTIPOLYGON use the exterior rings only, without their closing vertex.

    Args:
        aoi_wkt: the AOI as WKT.

    Raises:
        QueryError: the AOI is missing or unparsable (see :func:`parse_aoi`).

    Example:
        >>> get_aoi_centroid("LINESTRING(10 40, 14 44)")
        (12.0, 42.0)
    """
    geometry = parse_aoi(aoi_wkt)
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        rings = [part.exterior.coords[:-1] for part in shapely.get_parts(geometry)]
        vertices = [vertex for ring in rings for vertex in ring]
    else:
        vertices = [tuple(xy) for xy in shapely.get_coordinates(geometry)]
    lon = sum(v[0] for v in vertices) / len(vertices)
    lat = sum(v[1] for v in vertices) / len(vertices)
    return (float(lon), float(lat))


def get_recommended_orbit_direction(aoi_wkt: str | None) -> str:
    """``'DESCENDING'`` for Europe/America (centroid lon in [-180, 60)), else ``'ASCENDING'``.

    Args:
        aoi_wkt: the AOI as WKT.

    Raises:
        QueryError: the AOI is missing or unparsable (see :func:`parse_aoi`).
    """
    lon, _ = get_aoi_centroid(aoi_wkt)
    low, high = EUROPE_AMERICA_LON_BOUNDS
    return "DESCENDING" if low <= lon < high else "ASCENDING"
