"""Validation of search parameters, in phidown's order and with phidown's messages (pure).

:func:`validate_search` checks every parameter of phidown's ``query_by_filter`` in the order
phidown does (so the same error wins) and returns a frozen :class:`SearchParams`. Errors are
:class:`~phidown_async.errors.QueryError` (a ValueError) where phidown raises ValueError and
:class:`~phidown_async.errors.QueryTypeError` (a TypeError) where it raises TypeError.

Deliberate differences from phidown (its bugs, spec §18):

* booleans are rejected where numbers are expected (``top``, ``cloud_cover_threshold``,
  attribute values, burst integers), not silently taken as 0/1;
* ``top`` must be a whole number (``10.0`` becomes ``10``; phidown sent ``$top=10.0``);
  ``skip`` may not exceed 10 000, CDSE's own limit;
* dates follow an explicit ISO 8601 grammar (:func:`.dates.parse_datetime`) instead of whatever the
  running Python's ``fromisoformat`` accepts; ``datetime`` objects are accepted too;
* burst-only parameters given without ``burst_mode=True`` are an error, not ignored;
* PhiSat-2 collection names are rejected (phidown_async searches CDSE only);
* Sentinel-1 also accepts CDSE's real product codes (``IW_SLC__1S`` ...) besides
  phidown's ``SLC``/``GRD``/``OCN``.

The grammars of dates and of areas of interest are :mod:`.dates`' and :mod:`.wkt`'s.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..config import DEFAULT_CATALOGUE_URL
from ..data import ValidValues, valid_values
from ..errors import QueryError, QueryTypeError
from .dates import as_utc, parse_datetime, validate_dates
from .wkt import normalise_wkt

__all__ = [
    "BURST_ONLY_PARAMETERS",
    "DEFAULT_ORDER_BY",
    "MATCH_TYPES",
    "MAX_SKIP",
    "MAX_TOP",
    "NamePatternQuery",
    "SearchParams",
    "validate_name",
    "validate_name_pattern",
    "validate_search",
]

DEFAULT_ORDER_BY = "ContentDate/Start desc"
#: CDSE's bounds: ``$top`` 0..1000, ``$skip`` 0..10000 (a larger value is a 422).
MAX_TOP = 1000
MAX_SKIP = 10_000
MATCH_TYPES = ("exact", "contains", "startswith", "endswith")
BURST_ONLY_PARAMETERS = (
    "burst_id",
    "absolute_burst_id",
    "swath_identifier",
    "parent_product_name",
    "parent_product_type",
    "parent_product_id",
    "datatake_id",
    "relative_orbit_number",
    "operational_mode",
    "polarisation_channels",
    "platform_serial_identifier",
)
_BURST_INTEGERS = ("burst_id", "absolute_burst_id", "datatake_id", "relative_orbit_number")
_PHIDOWN_PRODUCTS_URL = f"{DEFAULT_CATALOGUE_URL}/Products"
_SENTINEL_1 = "SENTINEL-1"
_SENTINEL_2 = "SENTINEL-2"


@dataclass(frozen=True)
class SearchParams:
    """Validated, normalised search parameters (build them with :func:`validate_search`).

    Field names and defaults are phidown's ``query_by_filter`` ones. ``aoi_wkt`` is the
    whitespace-normalised WKT; dates are kept verbatim as given (strings); ``attributes`` is a
    read-only mapping in the caller's order. ``base_url`` is None unless the caller chose a
    Products URL other than phidown's default (the engine then uses its configured endpoint).
    In burst mode the product-only fields are kept as given but never used.
    """

    collection_name: str | None = _SENTINEL_1
    product_type: str | None = None
    orbit_direction: str | None = None
    cloud_cover_threshold: float | None = None
    attributes: Mapping[str, str | int | float] | None = None
    aoi_wkt: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    top: int = 1000
    count: bool = False
    skip: int | None = None
    order_by: str = DEFAULT_ORDER_BY
    burst_mode: bool = False
    burst_id: int | None = None
    absolute_burst_id: int | None = None
    swath_identifier: str | None = None
    parent_product_name: str | None = None
    parent_product_type: str | None = None
    parent_product_id: str | None = None
    datatake_id: int | None = None
    relative_orbit_number: int | None = None
    operational_mode: str | None = None
    polarisation_channels: str | None = None
    platform_serial_identifier: str | None = None
    filter_text: str | None = None
    config_file: str = ".s5cfg"
    base_url: str | None = None

    @property
    def start(self) -> datetime | None:
        """``start_date`` as an aware UTC datetime (naive dates are UTC, as on CDSE)."""
        return as_utc(parse_datetime(self.start_date)) if self.start_date else None

    @property
    def end(self) -> datetime | None:
        """``end_date`` as an aware UTC datetime (naive dates are UTC, as on CDSE)."""
        return as_utc(parse_datetime(self.end_date)) if self.end_date else None


@dataclass(frozen=True)
class NamePatternQuery:
    """Validated arguments of ``search_products_by_name_pattern`` (effective values)."""

    pattern: str
    match_type: str
    collection: str | None
    top: int
    order_by: str


# --------------------------------------------------------------------------- scalars


def _is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _validate_skip(skip: Any) -> int | None:
    if skip is None:
        return None
    if not _is_whole(skip):
        raise QueryTypeError("The 'skip' parameter must be an integer")
    if skip < 0:
        raise QueryError("The 'skip' parameter must be greater than or equal to 0")
    if skip > MAX_SKIP:
        raise QueryError(
            f"The 'skip' parameter must be less than or equal to {MAX_SKIP} (the CDSE limit)"
        )
    return int(skip)


def _validate_top(top: Any) -> int:
    whole_float = isinstance(top, float) and top.is_integer()
    if not (_is_whole(top) or whole_float):
        raise QueryTypeError("The 'top' parameter must be an integer")
    if not 1 <= top <= MAX_TOP:
        raise QueryError("The 'top' parameter must be between 1 and 1000")
    return int(top)


def _number(value: Any) -> int | float:
    """``value`` as a plain int or float; bools and non-numbers raise TypeError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _validate_cloud_cover(value: Any) -> int | float | None:
    if value is None:
        return None
    try:
        number = _number(value)
    except TypeError:
        raise QueryTypeError("The 'cloud_cover_threshold' parameter must be a number") from None
    if not 0 <= number <= 100:  # NaN fails this too
        raise QueryError("The 'cloud_cover_threshold' parameter must be between 0 and 100")
    return number


def _validate_order_by(order_by: Any, tables: ValidValues) -> str:
    if not order_by:
        return DEFAULT_ORDER_BY
    if not isinstance(order_by, str):
        raise QueryTypeError("The 'order_by' parameter must be a string")
    parts = order_by.split()
    if len(parts) != 2:
        raise QueryError(
            f"Invalid order_by format: {order_by}. It must be in the format 'field direction'."
        )
    field, direction = parts
    if field not in tables.order_by_fields or direction not in tables.order_by_directions:
        choices = ", ".join(
            f"{f} {d}" for f in tables.order_by_fields for d in tables.order_by_directions
        )
        raise QueryError(f"Invalid order_by value: {order_by}. Must be one of: {choices}")
    return order_by  # stored unchanged, as phidown does


# --------------------------------------------------------------------------- collections


def _is_phisat2(name: Any, tables: ValidValues) -> bool:
    return isinstance(name, str) and name.upper() in tables.phisat2_aliases


def _check_collection(name: Any, tables: ValidValues) -> str:
    if name is None:
        raise QueryError("Collection name cannot be None")
    if not isinstance(name, str):
        raise QueryTypeError("Collection name must be a string")
    if not name:
        raise QueryError("Collection name cannot be empty")
    if name not in tables.collections:
        raise QueryError(
            f"Invalid collection name: {name}. Must be one of: {', '.join(tables.collections)}"
        )
    return name


def _s2_alias(value: Any, collection: Any, tables: ValidValues) -> Any:
    """Canonical Sentinel-2 type for a level alias (``L2A`` -> ``S2MSI2A``); else unchanged."""
    if collection != _SENTINEL_2 or not isinstance(value, str):
        return value
    key = re.sub(r"[\s_-]+", "", value).upper()
    return tables.s2_level_aliases.get(key, value)


def _check_product_type(product_type: Any, collection: str, tables: ValidValues) -> None:
    if not isinstance(product_type, str):
        raise QueryTypeError("Product type must be a string")
    if not product_type:
        raise QueryError("Product type cannot be empty")
    listed = tables.product_types.get(collection, ())
    if product_type in listed:
        return
    if collection == _SENTINEL_1 and product_type in tables.s1_codes:
        return
    raise QueryError(f"Invalid product type: {product_type}. Must be one of: {', '.join(listed)}")


def _normalise_attributes(attributes: Any, collection: Any, tables: ValidValues) -> Any:
    if not isinstance(attributes, Mapping):
        return attributes
    result = dict(attributes)
    for key in ("productType", "processingLevel"):
        if key in result:
            result[key] = _s2_alias(result[key], collection, tables)
    return result


def _validate_attributes(attributes: Any) -> Mapping[str, str | int | float]:
    if not isinstance(attributes, Mapping):
        raise QueryTypeError("Attributes must be a dictionary")
    checked: dict[str, str | int | float] = {}
    for key, value in attributes.items():
        if not isinstance(key, str):
            raise QueryTypeError("Attribute keys must be strings")
        if isinstance(value, bool):
            raise QueryTypeError(
                f"Attribute values must be strings, integers, or floats (got a bool for {key!r})"
            )
        if isinstance(value, str):
            checked[key] = value
            continue
        try:
            number = _number(value)
        except TypeError:
            raise QueryTypeError("Attribute values must be strings, integers, or floats") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise QueryError(f"Attribute value for {key!r} must be a finite number")
        checked[key] = number
    return MappingProxyType(checked)


# --------------------------------------------------------------------------- bursts


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise QueryError(f"Invalid {name}: {value}. Must be one of: {', '.join(choices)}")


def _burst_integer(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise QueryTypeError(f"{name} must be an integer") from None
    if not _is_whole(value):
        raise QueryTypeError(f"{name} must be an integer")
    return int(value)


def _validate_bursts(fields: dict[str, Any], tables: ValidValues) -> dict[str, Any]:
    _check_choice("swath_identifier", fields["swath_identifier"], tables.swath_identifiers)
    _check_choice("parent_product_type", fields["parent_product_type"], tables.parent_product_types)
    _check_choice("operational_mode", fields["operational_mode"], tables.operational_modes)
    _check_choice(
        "polarisation_channels", fields["polarisation_channels"], tables.polarisation_channels
    )
    _check_choice(
        "platform_serial_identifier",
        fields["platform_serial_identifier"],
        tables.platform_serial_identifiers,
    )
    checked = dict(fields)
    for name in _BURST_INTEGERS:
        checked[name] = _burst_integer(name, fields[name])
    for name in ("parent_product_name", "parent_product_id"):
        if fields[name] is not None and not isinstance(fields[name], str):
            raise QueryTypeError(f"{name} must be a string")
    return checked


# --------------------------------------------------------------------------- entry points


def validate_search(
    base_url: str | None = None,
    collection_name: str | None = _SENTINEL_1,
    product_type: str | None = None,
    orbit_direction: str | None = None,
    cloud_cover_threshold: float | None = None,
    attributes: Mapping[str, str | int | float] | None = None,
    aoi_wkt: str | None = None,
    start_date: str | datetime | None = None,
    end_date: str | datetime | None = None,
    top: int = 1000,
    count: bool = False,
    skip: int | None = None,
    order_by: str = DEFAULT_ORDER_BY,
    burst_mode: bool = False,
    burst_id: int | str | None = None,
    absolute_burst_id: int | str | None = None,
    swath_identifier: str | None = None,
    parent_product_name: str | None = None,
    parent_product_type: str | None = None,
    parent_product_id: str | None = None,
    datatake_id: int | str | None = None,
    relative_orbit_number: int | str | None = None,
    operational_mode: str | None = None,
    polarisation_channels: str | None = None,
    platform_serial_identifier: str | None = None,
    filter_text: str | None = None,
    config_file: str = ".s5cfg",
    *,
    tables: ValidValues | None = None,
) -> SearchParams:
    """Validate phidown ``query_by_filter`` arguments; same defaults, order and messages.

    Args:
        base_url: Products URL; None (or phidown's default URL) means the configured
            catalogue. Ignored in burst mode.
        tables: valid-value tables (a user's phidown ``config.json``); packaged by default.
        (the rest): as phidown's ``query_by_filter``.

    Raises:
        QueryError: an invalid value (a ValueError, phidown's message).
        QueryTypeError: a value of the wrong type (a TypeError, phidown's message).

    Example:
        >>> validate_search(product_type="SLC", top=10).top
        10
    """
    tables = tables or valid_values()
    burst_mode = bool(burst_mode)
    skip = _validate_skip(skip)
    if count and skip is not None:
        raise QueryError("The 'count' and 'skip' parameters cannot be used together.")
    if _is_phisat2(collection_name, tables):
        raise QueryError(
            f"PhiSat-2 collections are not supported (collection_name={collection_name!r}): "
            "phidown_async searches the Copernicus Data Space Ecosystem only."
        )
    if not burst_mode:
        _check_collection(collection_name, tables)
    product_type = _s2_alias(product_type, collection_name, tables)
    if not burst_mode and product_type is not None:
        _check_product_type(product_type, collection_name, tables)
    _check_choice("orbit direction", orbit_direction, tables.orbit_directions)
    if not burst_mode:
        cloud_cover_threshold = _validate_cloud_cover(cloud_cover_threshold)
    if aoi_wkt is not None:
        aoi_wkt = normalise_wkt(aoi_wkt)
    start_text, end_text = validate_dates(start_date, end_date)
    top = _validate_top(top)
    order_by = _validate_order_by(order_by, tables)
    attributes = _normalise_attributes(attributes, collection_name, tables)
    if not burst_mode and attributes is not None:
        attributes = _validate_attributes(attributes)
    elif isinstance(attributes, Mapping):
        attributes = MappingProxyType(dict(attributes))

    bursts = {
        "burst_id": burst_id,
        "absolute_burst_id": absolute_burst_id,
        "swath_identifier": swath_identifier,
        "parent_product_name": parent_product_name,
        "parent_product_type": parent_product_type,
        "parent_product_id": parent_product_id,
        "datatake_id": datatake_id,
        "relative_orbit_number": relative_orbit_number,
        "operational_mode": operational_mode,
        "polarisation_channels": polarisation_channels,
        "platform_serial_identifier": platform_serial_identifier,
    }
    if burst_mode:
        bursts = _validate_bursts(bursts, tables)
    else:
        given = [name for name in BURST_ONLY_PARAMETERS if bursts[name] is not None]
        if given:
            raise QueryError(
                "These parameters only apply to burst searches; pass burst_mode=True to use "
                f"them: {', '.join(given)}"
            )
    if base_url is not None and not isinstance(base_url, str):
        raise QueryTypeError("The 'base_url' parameter must be a string")
    if burst_mode or base_url == _PHIDOWN_PRODUCTS_URL:
        base_url = None
    return SearchParams(
        collection_name=collection_name,
        product_type=product_type,
        orbit_direction=orbit_direction,
        cloud_cover_threshold=cloud_cover_threshold,
        attributes=attributes,
        aoi_wkt=aoi_wkt,
        start_date=start_text,
        end_date=end_text,
        top=top,
        count=bool(count),
        skip=skip,
        order_by=order_by,
        burst_mode=burst_mode,
        filter_text=filter_text,
        config_file=config_file,
        base_url=base_url,
        **bursts,
    )


def validate_name(product_name: Any) -> str:
    """Check the argument of ``query_by_name``.

    Raises:
        QueryError: ``Product name must be a non-empty string.``
    """
    if not product_name or not isinstance(product_name, str):
        raise QueryError("Product name must be a non-empty string.")
    return product_name


def validate_name_pattern(
    name_pattern: Any,
    match_type: Any,
    collection_name_filter: str | None = None,
    top: int | None = None,
    order_by: str | None = None,
    *,
    default_collection: str | None = None,
    default_top: int = 1000,
    default_order_by: str = DEFAULT_ORDER_BY,
    tables: ValidValues | None = None,
) -> NamePatternQuery:
    """Check ``search_products_by_name_pattern`` arguments and resolve the effective values.

    Args:
        name_pattern, match_type, collection_name_filter, top, order_by: phidown's arguments.
        default_collection, default_top, default_order_by: the searcher's current
            ``collection_name`` / ``top`` / ``order_by``, used when an argument is not given.
        tables: valid-value tables; packaged by default.

    Raises:
        QueryError: phidown's messages for the pattern, match type, collection and top.
        QueryTypeError: a non-string collection filter or order_by, a non-integer top.
    """
    tables = tables or valid_values()
    if not name_pattern or not isinstance(name_pattern, str):
        raise QueryError("Name pattern must be a non-empty string.")
    if match_type not in MATCH_TYPES:
        raise QueryError(
            f"Invalid match_type: {match_type}. Must be one of: {', '.join(MATCH_TYPES)}"
        )
    collection = default_collection or None
    if collection_name_filter:
        try:
            collection = _check_collection(collection_name_filter, tables)
        except QueryTypeError:
            raise
        except QueryError as exc:
            raise QueryError(
                f"Invalid 'collection_name_filter' provided: '{collection_name_filter}'. "
                f"Validation error: {exc}"
            ) from None
    effective_top = default_top if top is None else top
    if not _is_whole(effective_top):
        raise QueryTypeError(
            "The 'top' parameter for the query must be an integer. "
            f"Effective value: {effective_top!r}"
        )
    if not 1 <= effective_top <= MAX_TOP:
        raise QueryError(
            "The 'top' parameter for the query must be between 1 and 1000. "
            f"Effective value: {effective_top}"
        )
    effective_order_by = order_by or default_order_by
    if not isinstance(effective_order_by, str):
        raise QueryTypeError("The 'order_by' parameter must be a string")
    return NamePatternQuery(
        pattern=name_pattern,
        match_type=match_type,
        collection=collection,
        top=int(effective_top),
        order_by=effective_order_by,
    )
