"""Catalogue JSON entities -> the pandas DataFrame phidown returns, plus AOI coverage (pure).

The frame has one column per top-level JSON property, unchanged (``Attributes`` stays a list
of dicts, ``ContentDate`` a dict, ``GeoFootprint`` a GeoJSON dict, ``Footprint`` CDSE's
``geography'SRID=4326;...'`` string). The only added column is ``coverage``.

Coverage is computed in **planar degrees**: longitude/latitude are treated as a Cartesian
plane. It is a ranking heuristic, exact for "fully inside" and "fully outside", close for
small AOIs away from the poles, wrong for footprints crossing the antimeridian.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.coverage import coverage_values, entity_footprints

__all__ = ["dedupe", "entity_coverage", "result_frame", "to_frame"]


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


def entity_coverage(entities: Sequence[Mapping[str, Any]], aoi_wkt: str | None) -> np.ndarray:
    """Percent of the AOI each entity's footprint covers (``GeoFootprint``, else ``Footprint``).

    See :func:`~phidown_async.analysis.coverage.coverage_values`; no AOI gives NaN.
    """
    return coverage_values(entity_footprints(entities), aoi_wkt)


def result_frame(entities: Sequence[Mapping[str, Any]], coverage: Sequence[float]) -> pd.DataFrame:
    """:func:`to_frame` plus a float ``coverage`` column (``coverage[i]`` for entity i).

    An empty result stays a frame without columns, as phidown's.
    """
    df = to_frame(entities)
    if df.empty:
        return df
    return df.assign(coverage=np.asarray(coverage, dtype="float64"))
