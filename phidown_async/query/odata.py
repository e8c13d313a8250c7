"""OData ``$filter`` strings and catalogue URLs, built exactly as phidown builds them (pure).

Filter fragments come in phidown's order and are joined with `` and ``: collection,
product type, orbit direction, cloud cover, AOI, start date, end date (``lt`` for Products,
``le`` for Bursts, as in phidown), attributes, burst fields. Query options follow as
``$filter, $orderby, $top, [$skip], [$expand=Attributes] (Products only), [$count=true]``.

Deliberate differences from phidown:

* every OData string literal is escaped (``'`` doubled: ``O'Brien`` -> ``'O''Brien'``);
* :func:`build_url` percent-encodes each query value (``+`` -> ``%2B`` so ``+00:00`` offsets
  survive, non-ASCII as UTF-8); :func:`raw_url` keeps phidown's unencoded form, which is what
  phidown stored in its ``url`` attribute;
* for SENTINEL-1 the short product types ``SLC``/``GRD``/``OCN`` are not real CDSE values,
  so they become a match on any of the real codes::

      Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and
      (att/OData.CSC.StringAttribute/Value eq 'IW_SLC__1S' or
       att/OData.CSC.StringAttribute/Value eq 'EW_SLC__1S' or ...))

  (one line in the real filter); a real code (``IW_SLC__1S``) is emitted as phidown would;
* an optional time ``window`` replaces the date fragments, so the engine can split a search
  that is too big for CDSE's ``$skip`` limit into time slices.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from ..data import valid_values
from ..errors import QueryError, QueryTypeError
from .pages import Window
from .parameters import (
    DEFAULT_ORDER_BY,
    MATCH_TYPES,
    MAX_SKIP,
    MAX_TOP,
    NamePatternQuery,
    SearchParams,
)

__all__ = [
    "build_filter",
    "build_params",
    "build_url",
    "collection_url",
    "format_datetime",
    "name_filter",
    "name_params",
    "name_pattern_filter",
    "name_pattern_params",
    "quote_literal",
    "raw_url",
]

#: A time slice: a :class:`~.pages.Window` or a plain ``(start, end)`` pair.
WindowLike = Window | tuple[datetime, datetime]

# Characters left as they are in query keys and values: what requests leaves unescaped in
# phidown's URLs, minus the ones that would change the meaning of the query string
# (``&``, ``+``, ``#``, ``?``) and minus ``[``/``]``, which RFC 3986 reserves.
_SAFE = "!$'()*,/:;=@~"

_STRING_ATTRIBUTE = (
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq {name} and "
    "att/OData.CSC.StringAttribute/Value eq {value})"
)
_INTEGER_ATTRIBUTE = (
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq {name} and "
    "att/OData.CSC.IntegerAttribute/Value eq {value})"
)
_DOUBLE_ATTRIBUTE = (
    "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq {name} and "
    "att/OData.CSC.DoubleAttribute/Value {op} {value})"
)
_NAME_MATCHES = {
    "exact": "Name eq {}",
    "contains": "contains(Name,{})",
    "startswith": "startswith(Name,{})",
    "endswith": "endswith(Name,{})",
}


def quote_literal(value: str) -> str:
    """An OData string literal: ``O'Brien`` -> ``'O''Brien'``."""
    return "'" + value.replace("'", "''") + "'"


def format_datetime(moment: datetime) -> str:
    """An OData date-time literal in UTC with microseconds, e.g. ``2024-08-01T00:00:00.000000Z``.

    A naive datetime is taken as UTC (CDSE's reading of a date without offset).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text.removesuffix("+00:00") + "Z"


def _product_type_fragment(params: SearchParams) -> str:
    codes = ()
    if params.collection_name == "SENTINEL-1":
        codes = valid_values().s1_product_codes.get(params.product_type, ())
    if not codes:
        return _STRING_ATTRIBUTE.format(
            name=quote_literal("productType"), value=quote_literal(params.product_type)
        )
    alternatives = " or ".join(
        f"att/OData.CSC.StringAttribute/Value eq {quote_literal(code)}" for code in codes
    )
    return (
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        f"({alternatives}))"
    )


def _attribute_fragment(key: str, value: object) -> str:
    name = quote_literal(key)
    if isinstance(value, str):
        return _STRING_ATTRIBUTE.format(name=name, value=quote_literal(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _INTEGER_ATTRIBUTE.format(name=name, value=value)
    if isinstance(value, float):
        return _DOUBLE_ATTRIBUTE.format(name=name, op="eq", value=value)
    raise QueryTypeError(f"Unsupported attribute type for {key}: {type(value)}")


def _date_fragments(params: SearchParams, window: WindowLike | None) -> list[str]:
    if window is None:
        end_op = "le" if params.burst_mode else "lt"
        fragments = []
        if params.start_date:
            fragments.append(f"ContentDate/Start ge {params.start_date}")
        if params.end_date:
            fragments.append(f"ContentDate/Start {end_op} {params.end_date}")
        return fragments
    start, end, *rest = window
    inclusive = rest[0] if rest and rest[0] is not None else params.burst_mode
    return [
        f"ContentDate/Start ge {format_datetime(start)}",
        f"ContentDate/Start {'le' if inclusive else 'lt'} {format_datetime(end)}",
    ]


def _burst_fragments(params: SearchParams) -> list[str]:
    fields = (
        ("BurstId", params.burst_id, False),
        ("AbsoluteBurstId", params.absolute_burst_id, False),
        ("SwathIdentifier", params.swath_identifier, True),
        ("ParentProductName", params.parent_product_name, True),
        ("ParentProductType", params.parent_product_type, True),
        ("ParentProductId", params.parent_product_id, True),
        ("DatatakeID", params.datatake_id, False),
        ("RelativeOrbitNumber", params.relative_orbit_number, False),
        ("OperationalMode", params.operational_mode, True),
        ("PolarisationChannels", params.polarisation_channels, True),
        ("PlatformSerialIdentifier", params.platform_serial_identifier, True),
    )
    return [
        f"{name} eq {quote_literal(value) if text else value}"
        for name, value, text in fields
        if value is not None
    ]


def build_filter(params: SearchParams, *, window: WindowLike | None = None) -> str:
    """The ``$filter`` expression for a search.

    Args:
        params: validated parameters.
        window: ``(start, end[, inclusive_end])`` datetimes replacing the date fragments;
            ``inclusive_end`` None (or absent) follows the mode (``lt`` Products, ``le`` Bursts).

    Raises:
        QueryError: ``No valid filters provided. At least one filter is required.``

    Example:
        >>> build_filter(SearchParams())
        "(Collection/Name eq 'SENTINEL-1')"
    """
    burst = params.burst_mode
    fragments: list[str] = []
    if not burst and params.collection_name:
        fragments.append(f"(Collection/Name eq {quote_literal(params.collection_name)})")
    if not burst and params.product_type:
        fragments.append(_product_type_fragment(params))
    if params.orbit_direction:
        direction = quote_literal(params.orbit_direction)
        if burst:
            fragments.append(f"OrbitDirection eq {direction}")
        else:
            fragments.append(
                _STRING_ATTRIBUTE.format(name=quote_literal("orbitDirection"), value=direction)
            )
    if not burst and params.cloud_cover_threshold is not None:
        fragments.append(
            _DOUBLE_ATTRIBUTE.format(
                name=quote_literal("cloudCover"), op="lt", value=params.cloud_cover_threshold
            )
        )
    if params.aoi_wkt:
        fragments.append(f"OData.CSC.Intersects(area=geography'SRID=4326;{params.aoi_wkt}')")
    fragments.extend(_date_fragments(params, window))
    if not burst and params.attributes:
        fragments.extend(_attribute_fragment(k, v) for k, v in params.attributes.items())
    if burst:
        fragments.extend(_burst_fragments(params))
    if not fragments:
        raise QueryError("No valid filters provided. At least one filter is required.")
    return " and ".join(fragments)


def _bounded(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryTypeError(f"The '{name}' parameter must be an integer")
    if not low <= value <= high:
        raise QueryError(f"The '{name}' parameter must be between {low} and {high}")
    return value


def build_params(
    params: SearchParams,
    *,
    skip: int | None = None,
    top: int | None = None,
    count: bool | None = None,
    window: WindowLike | None = None,
) -> list[tuple[str, str]]:
    """The ordered query options of one catalogue request.

    Args:
        params: validated parameters.
        skip: ``$skip`` for this page (default ``params.skip``; None emits none).
        top: ``$top`` for this page, 0..1000 (default ``params.top``; 0 = count only).
        count: request ``$count=true`` (default ``params.count``).
        window: time slice replacing the date fragments (see :func:`build_filter`).

    Raises:
        QueryError, QueryTypeError: ``skip``/``top`` out of CDSE's bounds; no filter at all.
    """
    page_top = _bounded("top", params.top if top is None else top, 0, MAX_TOP)
    page_skip = params.skip if skip is None else skip
    pairs = [
        ("$filter", build_filter(params, window=window)),
        ("$orderby", params.order_by),
        ("$top", str(page_top)),
    ]
    if page_skip is not None:
        pairs.append(("$skip", str(_bounded("skip", page_skip, 0, MAX_SKIP))))
    if not params.burst_mode:
        pairs.append(("$expand", "Attributes"))
    if params.count if count is None else count:
        pairs.append(("$count", "true"))
    return pairs


def _join(base_url: str, query: str) -> str:
    if not query:
        return base_url
    return f"{base_url}{'&' if '?' in base_url else '?'}{query}"


def build_url(base_url: str, pairs: Sequence[tuple[str, str]]) -> str:
    """The request URL with every key and value percent-encoded.

    Spaces become ``%20``, ``+`` becomes ``%2B``, non-ASCII is UTF-8 escaped; OData's
    ``$ ' ( ) , / : ; =`` stay readable, as on phidown's wire.
    """
    query = "&".join(f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in pairs)
    return _join(base_url, query)


def raw_url(base_url: str, pairs: Sequence[tuple[str, str]]) -> str:
    """The unencoded URL, as phidown builds and stores it (for display and golden tests)."""
    return _join(base_url, "&".join(f"{k}={v}" for k, v in pairs))


def collection_url(params: SearchParams, catalogue_url: str) -> str:
    """Where the search goes: ``<catalogue>/Bursts`` in burst mode, else ``<catalogue>/Products``
    (or the custom ``base_url`` the caller validated)."""
    root = catalogue_url.rstrip("/")
    if params.burst_mode:
        return f"{root}/Bursts"
    return params.base_url or f"{root}/Products"


def name_filter(name: str) -> str:
    """``Name eq '<name>'`` (``query_by_name``)."""
    return f"Name eq {quote_literal(name)}"


def name_params(name: str) -> list[tuple[str, str]]:
    """Query options of ``query_by_name``: the name filter and ``$expand=Attributes``."""
    return [("$filter", name_filter(name)), ("$expand", "Attributes")]


def name_pattern_filter(pattern: str, match_type: str, collection: str | None = None) -> str:
    """Filter of ``search_products_by_name_pattern``, e.g. ``contains(Name,'T33')``.

    The collection fragment, when given, is appended unparenthesised, as phidown does.

    Raises:
        QueryError: unknown ``match_type`` (phidown's message).
    """
    if match_type not in _NAME_MATCHES:
        raise QueryError(
            f"Invalid match_type: {match_type}. Must be one of: {', '.join(MATCH_TYPES)}"
        )
    fragment = _NAME_MATCHES[match_type].format(quote_literal(pattern))
    if collection:
        fragment += f" and Collection/Name eq {quote_literal(collection)}"
    return fragment


def name_pattern_params(
    pattern: str | NamePatternQuery,
    match_type: str | None = None,
    collection: str | None = None,
    *,
    top: int = 1000,
    order_by: str = DEFAULT_ORDER_BY,
) -> list[tuple[str, str]]:
    """Query options of ``search_products_by_name_pattern``: filter, orderby, top, expand.

    Args:
        pattern: the name pattern, or a whole :class:`NamePatternQuery` (then the other
            arguments are taken from it).
        match_type, collection, top, order_by: as phidown's arguments (effective values).

    Raises:
        QueryError: unknown ``match_type``.
    """
    if isinstance(pattern, NamePatternQuery):
        query = pattern
        pattern, match_type, collection = query.pattern, query.match_type, query.collection
        top, order_by = query.top, query.order_by
    return [
        ("$filter", name_pattern_filter(pattern, match_type, collection)),
        ("$orderby", order_by),
        ("$top", str(top)),
        ("$expand", "Attributes"),
    ]
