"""What the acquisition planners take: the search callable and the required AOI and dates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pandas as pd

from phidown_async.errors import QueryError

__all__ = ["SearchFn", "require_aoi_and_dates"]

#: An async search taking phidown ``query_by_filter`` keyword arguments (collection_name,
#: product_type, orbit_direction, aoi_wkt, start_date, end_date, top, count, burst_mode,
#: polarisation_channels, relative_orbit_number, ...) and returning a phidown-shaped frame
#: with every page fetched.
SearchFn = Callable[..., Awaitable[pd.DataFrame]]


def require_aoi_and_dates(
    aoi_wkt: str | None, start_date: str | None, end_date: str | None
) -> None:
    """Check that an AOI and both dates are given, in phidown's order and words.

    Raises:
        QueryError: ``AOI WKT is required`` or ``Start and end dates are required``.
    """
    if not aoi_wkt:
        raise QueryError("AOI WKT is required")
    if not start_date or not end_date:
        raise QueryError("Start and end dates are required")
