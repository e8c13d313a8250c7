"""Search values in command-line terms: case-insensitive choices, dates, and messages.

The library validates with phidown's parameter names and messages (the facade's contract);
here the command line takes choices in any case, checks dates itself (an impossible date is
called impossible), makes a date-only ``--end`` cover its whole day, and rewrites the
library's remaining messages with the options' names (``--aoi`` for ``aoi_wkt``).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import typer

from ..data import ValidValues
from ..query.dates import parse_datetime

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)

# phidown's parameter names (and the words its messages use) -> the options.
OPTION_NAMES: dict[str, str] = {
    "aoi_wkt": "--aoi",
    "start_date": "--start",
    "end_date": "--end",
    "collection_name": "--collection",
    "Collection name": "--collection",
    "product_type": "--product-type",
    "Product type": "--product-type",
    "orbit direction": "--orbit-direction",
    "cloud_cover_threshold": "--cloud-cover",
    "order_by": "--order-by",
    "top": "--top",
    "skip": "--skip",
    "Attribute": "--attribute",
    "Attributes": "--attribute",
    "burst_mode=True": "--burst-mode",
    "absolute_burst_id": "--absolute-burst-id",
    "burst_id": "--burst-id",
    "swath_identifier": "--swath",
    "parent_product_name": "--parent-product-name",
    "parent_product_type": "--parent-product-type",
    "parent_product_id": "--parent-product-id",
    "datatake_id": "--datatake-id",
    "relative_orbit_number": "--relative-orbit",
    "operational_mode": "--operational-mode",
    "polarisation_channels": "--polarisation",
    "platform_serial_identifier": "--platform",
}
# Longest first, so that ``absolute_burst_id`` is not read as ``burst_id``; ``top`` and
# ``skip`` only when quoted, as plain words they may be anything.
_ALL = sorted(OPTION_NAMES, key=len, reverse=True)
_BARE = [name for name in _ALL if name not in ("top", "skip")]
_NAMES = re.compile(
    r"'({})' parameter|(?<![\w-])({})(?![\w=])".format(
        "|".join(map(re.escape, _ALL)), "|".join(map(re.escape, _BARE))
    )
)


def in_cli_terms(message: str) -> str:
    """``message`` of the library with every parameter name replaced by its option.

    Example:
        >>> in_cli_terms("The 'aoi_wkt' parameter must be valid WKT: missing geometry type")
        '--aoi must be valid WKT: missing geometry type'
    """
    text = message.replace("These parameters only apply", "These options only apply")
    text = text.replace("pass burst_mode=True to use them", "add --burst-mode to use them")
    text = _NAMES.sub(lambda m: OPTION_NAMES[m.group(1) or m.group(2)], text)
    return re.sub(r"^The (--[\w-]+)", r"\1", text)


def choice(value: str | None, choices: tuple[str, ...] | frozenset[str]) -> str | None:
    """``value`` spelled as the choice it names in any case, else unchanged."""
    if value is None:
        return None
    folded = value.strip().casefold()
    for known in choices:
        if known.casefold() == folded:
            return known
    return value


def product_type(value: str, collection: str, tables: ValidValues) -> str:
    """The product type ``value`` names for ``collection`` (any case; S2 level aliases too).

    Raises:
        typer.BadParameter: ``collection`` has no such type (the message lists its types).
    """
    listed = tables.product_types.get(collection, ())
    accepted = (*listed, *tables.s1_codes) if collection == "SENTINEL-1" else listed
    found = choice(value, accepted)
    if found in accepted:
        return found
    if collection == "SENTINEL-2":
        key = re.sub(r"[\s_-]+", "", value).upper()
        if key in tables.s2_level_aliases:
            return tables.s2_level_aliases[key]
    if not listed:
        return value  # a collection without a list of types: the catalogue decides
    valid = ", ".join(listed)
    if collection == "SENTINEL-2":
        shorts = [k for k in tables.s2_level_aliases if re.fullmatch(r"L\d[A-Z]", k)]
        valid += f" (or {', '.join(shorts)})"
    raise typer.BadParameter(
        f"{value!r} is not a {collection} product type; use one of {valid}",
        param_hint="--product-type",
    )


def checked_date(value: str | None, option: str) -> str | None:
    """``value`` if it is an ISO 8601 date or date-time of a real day.

    Raises:
        typer.BadParameter: an impossible date (2024-02-30) or text that is not a date.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        parse_datetime(text)
    except ValueError:
        day = _DATE.match(text)
        if day is not None and not _real_day(day.group()):
            raise typer.BadParameter(
                f"{text} is an impossible date (no such day)", param_hint=option
            ) from None
        raise typer.BadParameter(
            f"{text!r} is not a date; use ISO 8601: 2024-07-31, 2024-07-31T12:00 or "
            "2024-07-31T12:00:00Z",
            param_hint=option,
        ) from None
    return text


def _real_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def inclusive_end(value: str | None, burst_mode: bool) -> str | None:
    """A date-only ``--end`` widened to cover its whole day; a date-time stays as given.

    Product searches compare with ``lt`` (phidown's exclusive end), so the end becomes the
    next midnight; burst searches compare with ``le``, so it becomes the day's last
    microsecond.

    Example:
        >>> inclusive_end("2024-07-31", burst_mode=False)
        '2024-08-01T00:00:00'
    """
    if value is None or not _DATE.fullmatch(value):
        return value
    day = date.fromisoformat(value)
    if burst_mode:
        return f"{day.isoformat()}T23:59:59.999999"
    return f"{(day + timedelta(days=1)).isoformat()}T00:00:00"
