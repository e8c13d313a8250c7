"""Acquisition planning: AOI coverage, best orbit and bursts, temporal statistics, plots.

Everything here is pure except the planners' calls to the ``search`` callable they are given;
matplotlib is imported only when a plot is drawn.
"""

from phidown_async.analysis.aoi import (
    get_aoi_centroid,
    get_recommended_orbit_direction,
    parse_aoi,
)
from phidown_async.analysis.bursts import (
    SUBSWATH_PRIORITY,
    find_optimal_bursts,
    rank_bursts,
    subswath_order,
)
from phidown_async.analysis.coverage import (
    add_coverage_column,
    aoi_coverage,
    coverage_series,
    parse_geometry,
)
from phidown_async.analysis.dates import NoAcquisitionsError, acquisition_times
from phidown_async.analysis.inputs import SearchFn
from phidown_async.analysis.orbits import (
    find_optimal_orbit,
    recommend_orbit,
    relative_orbits,
    summarise_direction,
)
from phidown_async.analysis.plots import make_temporal_figure, plot_temporal_distribution
from phidown_async.analysis.temporal import compute_temporal_statistics

__all__ = [
    "SUBSWATH_PRIORITY",
    "NoAcquisitionsError",
    "SearchFn",
    "acquisition_times",
    "add_coverage_column",
    "aoi_coverage",
    "compute_temporal_statistics",
    "coverage_series",
    "find_optimal_bursts",
    "find_optimal_orbit",
    "get_aoi_centroid",
    "get_recommended_orbit_direction",
    "make_temporal_figure",
    "parse_aoi",
    "parse_geometry",
    "plot_temporal_distribution",
    "rank_bursts",
    "recommend_orbit",
    "relative_orbits",
    "subswath_order",
    "summarise_direction",
]
