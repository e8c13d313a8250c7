"""Which Sentinel-1 orbit direction and relative orbit cover an AOI best.

Both directions are searched concurrently; every product's coverage of the AOI is computed
here (planar degrees, see :mod:`phidown_async.analysis.coverage`) and summarised per
relative orbit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from phidown_async.analysis.aoi import get_recommended_orbit_direction
from phidown_async.analysis.coverage import coverage_series
from phidown_async.analysis.inputs import SearchFn, require_aoi_and_dates
from phidown_async.concurrency import FirstErrorGroup

__all__ = [
    "ORBIT_DIRECTIONS",
    "find_optimal_orbit",
    "normalise_orbit_number",
    "recommend_orbit",
    "relative_orbits",
    "summarise_direction",
]

ORBIT_DIRECTIONS = ("ASCENDING", "DESCENDING")


async def find_optimal_orbit(
    search: SearchFn,
    aoi_wkt: str | None,
    start_date: str | None = None,
    end_date: str | None = None,
    product_type: str = "SLC",
    top: int = 100,
) -> dict[str, Any]:
    """Find the orbit direction and relative orbit whose products cover the AOI best.

    Searches SENTINEL-1 ``product_type`` products over the AOI and dates for both orbit
    directions at once, then ranks relative orbits by their average coverage.

    Args:
        search: async search taking phidown ``query_by_filter`` keyword arguments.
        aoi_wkt: the AOI as WKT.
        start_date: ISO 8601 start of the window.
        end_date: ISO 8601 end of the window.
        product_type: SENTINEL-1 product type, e.g. ``'SLC'`` or ``'GRD'``.
        top: page size of each search.

    Returns:
        ``{'ascending': D, 'descending': D, 'recommended': R}`` where ``D`` is
        ``{'orbits': {orbit: {'avg_coverage', 'max_coverage', 'count'}}, 'best_orbit',
        'max_coverage'}`` (``max_coverage`` is the highest coverage of any product of that
        direction) and ``R`` is ``{'orbit_direction', 'relative_orbit',
        'expected_coverage'}`` (the best orbit's average coverage). Equal directions are
        decided by the regional rule.

    Raises:
        QueryError: the AOI or a date is missing; the AOI cannot be parsed.
        Exception: whatever ``search`` raises (the first failure; the other search is
            cancelled).
    """
    require_aoi_and_dates(aoi_wkt, start_date, end_date)
    calls = {
        direction: {
            "collection_name": "SENTINEL-1",
            "product_type": product_type,
            "orbit_direction": direction,
            "aoi_wkt": aoi_wkt,
            "start_date": start_date,
            "end_date": end_date,
            "top": top,
            "count": True,
        }
        for direction in ORBIT_DIRECTIONS
    }
    frames = await _search_concurrently(search, calls)
    results: dict[str, Any] = {
        direction.lower(): summarise_direction(frames[direction], aoi_wkt)
        for direction in ORBIT_DIRECTIONS
    }
    results["recommended"] = recommend_orbit(results, aoi_wkt)
    return results


async def _search_concurrently(
    search: SearchFn, calls: Mapping[str, Mapping[str, Any]]
) -> dict[str, pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}

    async def run(key: str, kwargs: Mapping[str, Any]) -> None:
        frames[key] = await search(**kwargs)

    async with FirstErrorGroup() as group:
        for key, kwargs in calls.items():
            group.start_soon(run, key, kwargs)
    return frames


def summarise_direction(df: pd.DataFrame | None, aoi_wkt: str) -> dict[str, Any]:
    """Per-relative-orbit coverage of one direction's products.

    Args:
        df: the products of one orbit direction (may be None or empty).
        aoi_wkt: the AOI as WKT.

    Returns:
        ``{'orbits': {orbit: {'avg_coverage', 'max_coverage', 'count'}}, 'best_orbit',
        'max_coverage'}``. ``count`` is the number of products whose coverage could be
        computed; an orbit with none reports 0.0 coverages and is never the best orbit.
        ``best_orbit`` has the highest average (lowest orbit number on ties).
    """
    summary: dict[str, Any] = {"orbits": {}, "best_orbit": None, "max_coverage": 0.0}
    if df is None or len(df) == 0:
        return summary
    coverages: dict[int, list[float]] = {}
    for orbit, coverage in zip(relative_orbits(df), coverage_series(df, aoi_wkt), strict=True):
        if orbit is None:
            continue
        bucket = coverages.setdefault(orbit, [])
        if not math.isnan(coverage):
            bucket.append(coverage)
    best_average = -1.0
    for orbit in sorted(coverages):
        values = coverages[orbit]
        average = round(sum(values) / len(values), 2) if values else 0.0
        maximum = round(max(values), 2) if values else 0.0
        summary["orbits"][orbit] = {
            "avg_coverage": average,
            "max_coverage": maximum,
            "count": len(values),
        }
        if values and average > best_average:
            best_average = average
            summary["best_orbit"] = orbit
        summary["max_coverage"] = max(summary["max_coverage"], maximum)
    return summary


def recommend_orbit(results: Mapping[str, Mapping[str, Any]], aoi_wkt: str) -> dict[str, Any]:
    """Pick the direction whose best orbit has the higher average coverage.

    Args:
        results: ``{'ascending': D, 'descending': D}`` from :func:`summarise_direction`.
        aoi_wkt: the AOI, used by the regional rule when both directions are equal.

    Returns:
        ``{'orbit_direction', 'relative_orbit', 'expected_coverage'}``.
    """
    expected = {
        direction: _best_average(results[direction.lower()]) for direction in ORBIT_DIRECTIONS
    }
    if expected["ASCENDING"] > expected["DESCENDING"]:
        direction = "ASCENDING"
    elif expected["DESCENDING"] > expected["ASCENDING"]:
        direction = "DESCENDING"
    else:
        direction = get_recommended_orbit_direction(aoi_wkt)
    return {
        "orbit_direction": direction,
        "relative_orbit": results[direction.lower()]["best_orbit"],
        "expected_coverage": expected[direction],
    }


def _best_average(summary: Mapping[str, Any]) -> float:
    best = summary["best_orbit"]
    return 0.0 if best is None else float(summary["orbits"][best]["avg_coverage"])


def relative_orbits(df: pd.DataFrame) -> list[int | None]:
    """Each row's relative orbit number, or None when it has none.

    Read from the ``relativeOrbitNumber`` item of ``Attributes`` (products), else from a
    ``RelativeOrbitNumber`` / ``relativeOrbitNumber`` column (bursts).
    """
    from_attributes: Iterable[Any] = (
        df["Attributes"] if "Attributes" in df.columns else [None] * len(df)
    )
    orbits = [
        normalise_orbit_number(_attribute(cell, "relativeOrbitNumber")) for cell in from_attributes
    ]
    for column in ("RelativeOrbitNumber", "relativeOrbitNumber"):
        if column in df.columns:
            orbits = [
                normalise_orbit_number(fallback) if orbit is None else orbit
                for orbit, fallback in zip(orbits, df[column], strict=True)
            ]
    return orbits


def _attribute(cell: Any, name: str) -> Any:
    if not isinstance(cell, (list, tuple)):
        return None
    for item in cell:
        if isinstance(item, Mapping) and item.get("Name") == name:
            return item.get("Value")
    return None


def normalise_orbit_number(value: Any) -> int | None:
    """An orbit number as int (``'044'`` -> 44, ``8.0`` -> 8); None when blank or unusable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or not number.is_integer():
        return None
    return int(number)
