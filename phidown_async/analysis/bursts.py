"""Which Sentinel-1 bursts to take for an AOI: best coverage first, then preferred subswath.

IW1 is preferred over IW2 and IW3 (lower incidence angle). Without an orbit direction the
regional rule of :mod:`phidown_async.analysis.aoi` chooses one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from phidown_async.analysis.aoi import get_recommended_orbit_direction
from phidown_async.analysis.coverage import coverage_series
from phidown_async.analysis.dates import content_start, parse_times
from phidown_async.analysis.inputs import SearchFn, require_aoi_and_dates
from phidown_async.analysis.orbits import relative_orbits

__all__ = [
    "DEFAULT_SUBSWATH_ORDER",
    "SUBSWATH_PRIORITY",
    "find_optimal_bursts",
    "rank_bursts",
    "subswath_order",
]

logger = logging.getLogger(__name__)

DEFAULT_SUBSWATH_ORDER = ("IW1", "IW2", "IW3")
SUBSWATH_PRIORITY = {name: rank for rank, name in enumerate(DEFAULT_SUBSWATH_ORDER)}


async def find_optimal_bursts(
    search: SearchFn,
    aoi_wkt: str | None,
    start_date: str | None = None,
    end_date: str | None = None,
    polarisation: str = "VV",
    orbit_direction: str | None = None,
    relative_orbit_number: int | None = None,
    preferred_subswath: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """Search the bursts over an AOI and order them best first.

    Args:
        search: async search taking phidown ``query_by_filter`` keyword arguments.
        aoi_wkt: the AOI as WKT.
        start_date: ISO 8601 start of the window.
        end_date: ISO 8601 end of the window (inclusive for bursts).
        polarisation: ``'VV'``, ``'VH'``, ``'HH'`` or ``'HV'``.
        orbit_direction: ``'ASCENDING'`` or ``'DESCENDING'``; None applies the regional rule.
        relative_orbit_number: restrict to one relative orbit.
        preferred_subswath: subswaths to rank first, in order; the rest of IW1, IW2, IW3
            follow. Default IW1, IW2, IW3.

    Returns:
        The bursts with extra columns ``coverage`` (percent of the AOI),
        ``relative_orbit``, ``subswath_priority`` (0 = most preferred) and
        ``acquisition_date`` (``datetime.date``), sorted by coverage descending then
        subswath priority; index labels are kept. Empty when nothing matched.

    Raises:
        QueryError: the AOI or a date is missing; the AOI cannot be parsed.
        Exception: whatever ``search`` raises.
    """
    require_aoi_and_dates(aoi_wkt, start_date, end_date)
    direction = orbit_direction or get_recommended_orbit_direction(aoi_wkt)
    frame = await search(
        burst_mode=True,
        orbit_direction=direction,
        aoi_wkt=aoi_wkt,
        start_date=start_date,
        end_date=end_date,
        polarisation_channels=polarisation,
        relative_orbit_number=relative_orbit_number,
        top=1000,
        count=True,
    )
    if frame is None or len(frame) == 0:
        logger.warning("No bursts found for the specified parameters")
        return pd.DataFrame() if frame is None else frame.copy()
    ranked = rank_bursts(frame, aoi_wkt, preferred_subswath)
    if "SwathIdentifier" in ranked.columns:
        counts = ranked["SwathIdentifier"].value_counts(dropna=False)
        logger.info(
            "Optimal bursts by subswath: %s", ", ".join(f"{k}: {v}" for k, v in counts.items())
        )
    return ranked


def subswath_order(preferred_subswath: Sequence[str] | str | None = None) -> list[str]:
    """The subswath ranking: the preferred ones in order, then the rest of IW1, IW2, IW3."""
    if isinstance(preferred_subswath, str):
        preferred_subswath = [preferred_subswath]
    order = list(dict.fromkeys(preferred_subswath or ()))
    return order + [name for name in DEFAULT_SUBSWATH_ORDER if name not in order]


def rank_bursts(
    df: pd.DataFrame, aoi_wkt: Any, preferred_subswath: Sequence[str] | str | None = None
) -> pd.DataFrame:
    """Add the ranking columns to a burst frame and sort it best first (pure).

    Args:
        df: burst search results (left unchanged).
        aoi_wkt: the AOI used for ``coverage``.
        preferred_subswath: see :func:`find_optimal_bursts`.

    Returns:
        A sorted copy with ``coverage``, ``relative_orbit``, ``subswath_priority`` and
        ``acquisition_date`` columns. Unknown subswaths rank after every listed one.
    """
    order = subswath_order(preferred_subswath)
    ranks = {name: rank for rank, name in enumerate(order)}
    result = df.copy()
    result["coverage"] = coverage_series(df, aoi_wkt)
    result["relative_orbit"] = pd.array(relative_orbits(df), dtype="Int64")
    swaths = df["SwathIdentifier"] if "SwathIdentifier" in df.columns else [None] * len(df)
    result["subswath_priority"] = [ranks.get(swath, len(order)) for swath in swaths]
    if "ContentDate" in df.columns:
        starts = parse_times([content_start(cell) for cell in df["ContentDate"]])
        result["acquisition_date"] = [None if pd.isna(t) else t.date() for t in starts]
    # A stable sort keeps the catalogue's order among equally good bursts.
    return result.sort_values(
        ["coverage", "subswath_priority"],
        ascending=[False, True],
        kind="stable",
        na_position="last",
    )
