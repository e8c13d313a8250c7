"""Search dates: the ISO 8601 grammar accepted for ``start_date``/``end_date`` (pure).

Dates follow an explicit grammar (:func:`parse_datetime`) instead of whatever the running
Python's ``fromisoformat`` accepts; ``datetime`` and ``date`` objects are accepted too.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from ..errors import QueryError, QueryTypeError

__all__ = ["as_utc", "parse_datetime", "validate_dates"]

# An explicit subset of ISO 8601 that is also a valid OData literal (or the naive form CDSE
# accepts as UTC): a date, optionally followed by T, hours and minutes, optional seconds and
# fraction, and an optional Z or ±HH:MM offset. No week dates, no space separator, no
# lower-case t/z, ASCII digits only.
_ISO_DATETIME = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,12}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time of the accepted grammar.

    Accepted: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS[.f...]]`` with an optional ``Z`` or
    ``±HH:MM`` offset (fractions beyond microseconds are truncated). A date alone means
    midnight. Without an offset the result is naive.

    Raises:
        ValueError: the text does not follow the grammar or names an impossible instant.
    """
    match = _ISO_DATETIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an ISO 8601 date or date-time: {text!r}")
    parts = match.groupdict()
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    zone = parts["zone"]
    tzinfo = None
    if zone == "Z":
        tzinfo = UTC
    elif zone:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"invalid UTC offset in {text!r}")
        offset = timedelta(hours=hours, minutes=minutes)
        tzinfo = timezone(-offset if zone[0] == "-" else offset)
    return datetime(
        int(parts["year"]),
        int(parts["month"]),
        int(parts["day"]),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        int(parts["second"] or 0),
        int(fraction),
        tzinfo=tzinfo,
    )


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is read as UTC, as CDSE does."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _date_text(value: Any, name: str) -> str | None:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if not value:
        return None  # phidown skips falsy dates entirely
    if not isinstance(value, str):
        raise QueryTypeError(
            f"{name} must be an ISO 8601 string or a datetime, got {type(value).__name__}"
        )
    return value


def validate_dates(start_value: Any, end_value: Any) -> tuple[str | None, str | None]:
    """``start_date`` and ``end_date`` as text (None when not given), checked as phidown does.

    Raises:
        QueryTypeError: a date that is neither a string nor a date or datetime.
        QueryError: a date outside the grammar, mixed naive and aware dates, or a start
            after the end (phidown's messages).
    """
    texts: dict[str, str | None] = {}
    parsed: dict[str, datetime] = {}
    for name, value in (("start_date", start_value), ("end_date", end_value)):
        text = texts[name] = _date_text(value, name)
        if text is None:
            continue
        try:
            parsed[name] = parse_datetime(text)
        except ValueError:
            raise QueryError(
                f"Invalid {name} format: {text}. Must be in ISO 8601 format."
            ) from None
    if len(parsed) == 2:
        start, end = parsed["start_date"], parsed["end_date"]
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise QueryError(
                "start_date and end_date must both be timezone-aware or both be timezone-naive."
            )
        if start > end:
            raise QueryError("start_date must not be later than end_date.")
    return texts["start_date"], texts["end_date"]
