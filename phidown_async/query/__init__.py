"""Pure query building: parameter validation, OData filters and URLs, pagination planning.

Nothing here performs I/O; the catalogue engine turns these values into requests.
"""

from .dates import parse_datetime
from .odata import (
    build_filter,
    build_params,
    build_url,
    collection_url,
    format_datetime,
    name_filter,
    name_params,
    name_pattern_filter,
    name_pattern_params,
    quote_literal,
    raw_url,
)
from .pages import (
    Window,
    page_skips,
    plan_window,
    reachable_rows,
    search_window,
    split_window,
    window_after,
    window_fits,
)
from .parameters import (
    DEFAULT_ORDER_BY,
    MAX_SKIP,
    MAX_TOP,
    NamePatternQuery,
    SearchParams,
    validate_name,
    validate_name_pattern,
    validate_search,
)
from .wkt import normalise_wkt

__all__ = [
    "DEFAULT_ORDER_BY",
    "MAX_SKIP",
    "MAX_TOP",
    "NamePatternQuery",
    "SearchParams",
    "Window",
    "build_filter",
    "build_params",
    "build_url",
    "collection_url",
    "format_datetime",
    "name_filter",
    "name_params",
    "name_pattern_filter",
    "name_pattern_params",
    "normalise_wkt",
    "page_skips",
    "parse_datetime",
    "plan_window",
    "quote_literal",
    "raw_url",
    "reachable_rows",
    "search_window",
    "split_window",
    "validate_name",
    "validate_name_pattern",
    "validate_search",
    "window_after",
    "window_fits",
]
