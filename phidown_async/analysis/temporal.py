"""Temporal statistics of a search result: revisit gaps, date span, counts per month and year."""

from __future__ import annotations

from typing import Any

import pandas as pd

from phidown_async.analysis.dates import acquisition_times

__all__ = ["compute_temporal_statistics", "temporal_statistics_of_times"]

_SECONDS_PER_DAY = 86400.0


def compute_temporal_statistics(df: pd.DataFrame | None) -> dict[str, Any]:
    """Summarise when the acquisitions of a result frame were taken.

    Dates come from ``ContentDate['Start']`` (else ``OriginDate``), parsed as ISO 8601 in any
    of CDSE's layouts.

    Args:
        df: a phidown-shaped result frame.

    Returns:
        ``total_acquisitions`` (int, duplicates counted); ``date_range`` with ``start`` and
        ``end`` (ISO strings with offset) and ``span_days`` (whole days); ``temporal_gaps``
        with ``min_days``, ``max_days``, ``mean_days``, ``median_days`` and ``std_days``
        (fractional days between consecutive acquisitions; sample std, 0.0 for one gap), or
        None for a single acquisition; ``acquisitions_by_month`` (``{'YYYY-MM': n}``) and
        ``acquisitions_by_year`` (``{year: n}``), both sorted.

    Raises:
        NoAcquisitionsError: (a ValueError) the frame is None/empty or has no usable dates.

    Example:
        >>> stats = compute_temporal_statistics(df)
        >>> stats["temporal_gaps"]["mean_days"]
        12.0
    """
    return temporal_statistics_of_times(acquisition_times(df))


def temporal_statistics_of_times(times: pd.Series) -> dict[str, Any]:
    """The statistics of :func:`compute_temporal_statistics` for sorted UTC timestamps.

    Args:
        times: non-empty, sorted, timezone-aware timestamps.
    """
    start, end = times.iloc[0], times.iloc[-1]
    gaps = times.diff().dropna().dt.total_seconds() / _SECONDS_PER_DAY
    temporal_gaps = None
    if len(gaps) > 0:
        temporal_gaps = {
            "min_days": float(gaps.min()),
            "max_days": float(gaps.max()),
            "mean_days": float(gaps.mean()),
            "median_days": float(gaps.median()),
            "std_days": float(gaps.std(ddof=1)) if len(gaps) > 1 else 0.0,
        }
    months = times.dt.strftime("%Y-%m").value_counts().sort_index()
    years = times.dt.year.value_counts().sort_index()
    return {
        "total_acquisitions": len(times),
        "date_range": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "span_days": int((end - start).days),
        },
        "temporal_gaps": temporal_gaps,
        "acquisitions_by_month": {str(k): int(v) for k, v in months.items()},
        "acquisitions_by_year": {int(k): int(v) for k, v in years.items()},
    }
