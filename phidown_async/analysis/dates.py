"""Acquisition times of a result frame, parsed as ISO 8601 whatever CDSE layout they use.

CDSE mixes layouts in one response (``...00Z``, ``...00.123Z``, ``...00.123456Z``,
``+00:00``); every one of them is parsed, none is silently dropped (phidown infers a single
format from the first row and loses the others).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from phidown_async.errors import PhidownError

__all__ = ["NoAcquisitionsError", "acquisition_times", "content_start", "parse_times"]


class NoAcquisitionsError(PhidownError, ValueError):
    """A result frame holds no acquisition dates to analyse (it is empty or has none)."""


def content_start(value: Any) -> Any:
    """The ``Start`` of a ``ContentDate`` cell (dict, or its JSON/Python-literal text).

    Any other value (a plain timestamp string, None, NaN) is returned unchanged.
    """
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return None
    if isinstance(value, Mapping):
        return value.get("Start")
    return value


def parse_times(values: Any) -> pd.Series:
    """Parse timestamps as ISO 8601 (any layout) into UTC; unparsable ones become NaT.

    Naive timestamps are taken as UTC, the catalogue's time zone.
    """
    series = pd.Series(values, dtype=object)
    return pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")


def acquisition_times(df: pd.DataFrame | None) -> pd.Series:
    """Sorted UTC acquisition start times of a result frame.

    Uses ``ContentDate['Start']``, else the tidy view's ``start`` (`catalogue.tidy`), else
    ``OriginDate``. Rows whose date cannot be parsed are left out; duplicates are kept.

    Args:
        df: a phidown-shaped result frame.

    Raises:
        NoAcquisitionsError: the frame is None or empty, has no date column, or none of its
            dates parse.
    """
    if df is None or len(df) == 0:
        raise NoAcquisitionsError("No acquisitions to analyse: the result frame is empty")
    if "ContentDate" in df.columns:
        raw = [content_start(cell) for cell in df["ContentDate"]]
    elif "start" in df.columns:
        raw = list(df["start"])
    elif "OriginDate" in df.columns:
        raw = list(df["OriginDate"])
    else:
        raise NoAcquisitionsError(
            "No date column found in results: expected 'ContentDate', 'start' or 'OriginDate'"
        )
    times = parse_times(raw).dropna().sort_values(kind="stable").reset_index(drop=True)
    if times.empty:
        raise NoAcquisitionsError(
            f"No acquisitions to analyse: none of the {len(df)} rows has a parsable date"
        )
    return times
