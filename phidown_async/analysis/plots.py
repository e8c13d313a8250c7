"""A four-panel picture of when a search result's acquisitions were taken.

matplotlib is optional (``pip install phidown_async[plot]``) and imported only when a plot is
asked for. Without a display the Agg backend is used, and ``show`` never blocks.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from phidown_async.analysis.dates import acquisition_times

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["make_temporal_figure", "plot_temporal_distribution"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = "matplotlib is required for plotting. Install with: pip install phidown_async[plot]"


def _pyplot() -> Any:
    """Import pyplot, choosing Agg first when there is no display to draw on."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    if "matplotlib.pyplot" not in sys.modules and _headless() and not os.environ.get("MPLBACKEND"):
        # Before pyplot exists this only sets the default; a user's explicit choice wins.
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _headless() -> bool:
    if sys.platform in ("win32", "darwin"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _can_show(plt: Any) -> bool:
    from matplotlib.backends import BackendFilter, backend_registry

    non_interactive = backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE)
    return plt.get_backend().lower() not in non_interactive


def make_temporal_figure(
    df: pd.DataFrame | None, figsize: tuple[float, float] = (14, 10)
) -> Figure:
    """Draw the four panels for a result frame and return the (open) pyplot figure.

    Panels: acquisition timeline (top left), distribution of gaps in days with mean and
    median lines (top right), acquisitions per month (bottom left), cumulative count
    (bottom right).

    Args:
        df: a phidown-shaped result frame with at least two dated acquisitions.
        figsize: figure size in inches.

    Raises:
        ImportError: matplotlib is not installed.
        NoAcquisitionsError: the frame is None/empty or has no usable dates.
        ValueError: fewer than 2 acquisitions.
    """
    plt = _pyplot()
    times = acquisition_times(df)
    if len(times) < 2:
        raise ValueError("Need at least 2 acquisitions for temporal plot")
    return _figure(plt, times, figsize)


def _figure(plt: Any, times: pd.Series, figsize: tuple[float, float]) -> Figure:
    # Naive UTC datetimes plot on every matplotlib version without tz surprises.
    dates = [t.tz_convert("UTC").tz_localize(None).to_pydatetime() for t in times]
    gaps = (times.diff().dropna().dt.total_seconds() / 86400.0).tolist()
    months = times.dt.strftime("%Y-%m").value_counts().sort_index()
    counts = list(range(1, len(dates) + 1))

    fig, axes = plt.subplots(2, 2, figsize=figsize)
    try:
        _draw(fig, axes, dates, gaps, months, counts)
    except BaseException:
        plt.close(fig)
        raise
    return fig


def _draw(
    fig: Figure,
    axes: Any,
    dates: list[datetime],
    gaps: list[float],
    months: pd.Series,
    counts: list[int],
) -> None:
    fig.suptitle("Sentinel-1 Temporal Distribution Analysis", fontsize=14, fontweight="bold")
    timeline, histogram, monthly, cumulative = axes.flat

    timeline.scatter(dates, range(len(dates)), s=20, alpha=0.7)
    timeline.set_title("Acquisition Timeline")
    timeline.set_xlabel("Date")
    timeline.set_ylabel("Acquisition index")
    timeline.tick_params(axis="x", rotation=45)

    mean_gap, median_gap = float(pd.Series(gaps).mean()), float(pd.Series(gaps).median())
    histogram.hist(gaps, bins=min(20, len(gaps)), edgecolor="black", alpha=0.7)
    histogram.axvline(mean_gap, color="red", linestyle="--", label=f"Mean: {mean_gap:.1f} days")
    histogram.axvline(
        median_gap, color="green", linestyle="--", label=f"Median: {median_gap:.1f} days"
    )
    histogram.set_title("Distribution of Temporal Gaps")
    histogram.set_xlabel("Gap (days)")
    histogram.set_ylabel("Frequency")
    histogram.legend()

    monthly.bar(list(months.index), list(months.values), alpha=0.7)
    monthly.set_title("Acquisitions by Month")
    monthly.set_xlabel("Month")
    monthly.set_ylabel("Acquisitions")
    monthly.tick_params(axis="x", rotation=45)

    cumulative.plot(dates, counts, linewidth=2)
    cumulative.fill_between(dates, counts, alpha=0.3)
    cumulative.set_title("Cumulative Acquisition Count")
    cumulative.set_xlabel("Date")
    cumulative.set_ylabel("Total acquisitions")
    cumulative.tick_params(axis="x", rotation=45)

    fig.tight_layout()


def plot_temporal_distribution(
    df: pd.DataFrame | None,
    output_path: str | os.PathLike[str] | None = None,
    show: bool = True,
    figsize: tuple[float, float] = (14, 10),
) -> str | None:
    """Save the four-panel temporal plot of a result frame as a PNG.

    Args:
        df: a phidown-shaped result frame.
        output_path: where to write; default ``temporal_distribution_<YYYYmmdd_HHMMSS>.png``
            in the current directory.
        show: display the figure when an interactive backend is available; otherwise (and
            always when headless) it is closed after saving.
        figsize: figure size in inches.

    Returns:
        The path written, or None (with a logged warning) when there are fewer than two
        acquisitions.

    Raises:
        ImportError: matplotlib is not installed (checked first).
        NoAcquisitionsError: the frame is None/empty or has no usable dates.
    """
    plt = _pyplot()
    times = acquisition_times(df)
    if len(times) < 2:
        logger.warning("Need at least 2 acquisitions for temporal plot")
        return None
    fig = _figure(plt, times, figsize)
    path = (
        os.fspath(output_path)
        if output_path is not None
        else (f"temporal_distribution_{datetime.now():%Y%m%d_%H%M%S}.png")
    )
    try:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    except BaseException:
        plt.close(fig)
        raise
    if show and _can_show(plt):
        plt.show()
    else:
        plt.close(fig)
    return path
