"""Catalogue JSON entities -> the pandas DataFrame phidown returns, plus AOI coverage (pure).

The frame has one column per top-level JSON property, unchanged (``Attributes`` stays a list
of dicts, ``ContentDate`` a dict, ``GeoFootprint`` a GeoJSON dict, ``Footprint`` CDSE's
``geography'SRID=4326;...'`` string). The only added column is ``coverage``.

Coverage is computed in **planar degrees**: longitude/latitude are treated as a Cartesian
plane. It is a ranking heuristic, exact for "fully inside" and "fully outside", close for
small AOIs away from the poles, wrong for footprints crossing the antimeridian.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..analysis.coverage import coverage_values, footprints_of

__all__ = ["add_coverage", "dedupe", "to_frame"]


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
    values = coverage_values(footprints_of(df), aoi_wkt)
    return df.assign(coverage=values)
