"""The tidy view of a result frame, for analysis: typed columns, one geometry, nothing nested.

phidown's frame (`frame.py`) keeps the catalogue's JSON as it came; `tidy` turns a product or
burst frame into:

- ``start`` and ``end`` (from ``ContentDate``) and every other date as ``datetime64[ns, UTC]``;
  a date pandas cannot hold (CDSE's ``EvictionDate`` 9999-12-31, "never") becomes NaT;
- ``geometry``: the footprint (``GeoFootprint``, else ``Footprint``) as a shapely geometry;
- one column per catalogue attribute, typed by its ``ValueType`` (Int64, float64, boolean,
  dates), and every other property, named in snake_case; the common ones carry the same
  short names for products and bursts: ``platform`` (``SENTINEL-1A``), ``product_type``,
  ``orbit_direction``, ``relative_orbit``, ``orbit_number``, ``polarisation``, ``swath``,
  ``cloud_cover``, ``online``;
- what a download needs, under the catalogue's names and unchanged: ``Id``, ``Name``,
  ``ContentLength`` (the size in bytes, Int64), ``S3Path``, ``Checksum`` (its list of
  ``{"Algorithm", "Value", ...}``), and a burst's ``BurstId``, ``ParentProductId`` and
  ``ParentProductName``. A tidy frame can be handed to every download function.

With geopandas installed (``pip install 'phidown_async[geo]'``) the view is a GeoDataFrame
in EPSG:4326; without it, a DataFrame whose ``geometry`` column holds shapely geometries.

Example:
    >>> df = tidy(await Search(session, params).frame())        # doctest: +SKIP
    >>> df[df.orbit_direction == "ASCENDING"].groupby("relative_orbit").size()
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..analysis.coverage import footprints_of, parse_footprints
from ..analysis.dates import content_start, parse_times

__all__ = ["tidy"]

# Kept under the catalogue's names: the download reads them (and recognises bursts by two).
KEYS = (
    "Id",
    "Name",
    "BurstId",
    "ParentProductId",
    "ParentProductName",
    "ContentLength",
    "S3Path",
    "Checksum",
)
# The analysis columns, first in the view when present.
LEADING = (
    "Id",
    "Name",
    "start",
    "end",
    "platform",
    "product_type",
    "orbit_direction",
    "relative_orbit",
    "orbit_number",
    "polarisation",
    "swath",
    "cloud_cover",
    "online",
    "coverage",
)
# Turned into start/end and geometry, or merged into platform; repeats of start/end.
NESTED = ("ContentDate", "GeoFootprint", "Footprint", "Attributes")
DROPPED = (
    "odata_media_content_type",
    "beginning_date_time",
    "ending_date_time",
    "platform_short_name",
    "platform_serial_identifier",
)
SHORT_NAMES = {
    "relative_orbit_number": "relative_orbit",
    "polarisation_channels": "polarisation",
    "swath_identifier": "swath",
    "parent_product_type": "product_type",  # a burst's product type is its parent's
}
UTC_NS = "datetime64[ns, UTC]"
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``relativeOrbitNumber`` -> ``relative_orbit_number``, ``DatatakeID`` -> ``datatake_id``."""
    words = _WORD.sub("_", name)
    return re.sub(r"[^0-9A-Za-z]+", "_", words).strip("_").lower()


def utc_times(values: Any) -> pd.Series:
    """ISO 8601 texts (any CDSE layout) as ``datetime64[ns, UTC]``; out of range is NaT."""
    times = parse_times(values)
    if times.empty:
        return times.astype(UTC_NS)
    outside = (times < pd.Timestamp.min.tz_localize("UTC")) | (
        times > pd.Timestamp.max.tz_localize("UTC")
    )
    return times.mask(outside).astype(UTC_NS)


def _typed(values: pd.Series, value_type: str | None) -> pd.Series:
    """A column typed by a catalogue ``ValueType`` (None: as pandas infers it)."""
    if value_type == "DateTimeOffset":
        return utc_times(values)
    if value_type == "Integer":
        return pd.to_numeric(values, errors="coerce").astype("Int64")
    if value_type == "Double":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if value_type == "Boolean":
        return values.astype("boolean")
    return values.infer_objects()


def _property_type(name: str, values: pd.Series) -> str | None:
    """The ``ValueType`` a top-level property behaves as (dates are texts named so)."""
    cells = values.dropna()
    if name.endswith(("_date", "_time")) and cells.map(lambda v: isinstance(v, str)).all():
        return "DateTimeOffset" if len(cells) else None
    if name == "online":
        return "Boolean"
    return None


def _attribute_columns(cells: pd.Series) -> dict[str, pd.Series]:
    """The ``Attributes`` lists as typed columns named in snake_case."""
    rows: list[dict[str, Any]] = []
    types: dict[str, str] = {}
    for cell in cells:
        row: dict[str, Any] = {}
        for item in cell if isinstance(cell, list | tuple) else ():
            if isinstance(item, Mapping) and isinstance(item.get("Name"), str):
                name = snake_case(item["Name"])
                row[name] = item.get("Value")
                types.setdefault(name, str(item.get("ValueType") or ""))
        rows.append(row)
    table = pd.DataFrame(rows, index=cells.index, columns=list(types), dtype=object)
    return {name: _typed(table[name], types[name]) for name in types}


def _platform(short: pd.Series | None, serial: pd.Series | None) -> pd.Series | None:
    """``SENTINEL-1`` + ``A`` -> ``SENTINEL-1A`` (missing parts left out)."""
    if short is None and serial is None:
        return None
    parts = [p.astype(object).where(p.notna(), "") for p in (short, serial) if p is not None]
    joined = parts[0].astype(str) + (parts[1].astype(str) if len(parts) > 1 else "")
    return joined.where(joined != "", None).infer_objects()


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The tidy view of a product or burst result frame (see the module's description).

    Args:
        frame: a frame of `Search.frame`, the facade's searches, or ``read_results``.

    Returns:
        A new frame, one row per input row, in the same order; a GeoDataFrame (EPSG:4326)
        when geopandas is installed.
    """
    index = frame.index
    columns: dict[str, pd.Series] = {}
    for column in frame.columns:
        values = frame[column]
        if column in KEYS:
            columns[column] = values.copy()
        elif column not in NESTED:
            name = SHORT_NAMES.get(snake_case(column), snake_case(column))
            columns.setdefault(name, _typed(values, _property_type(name, values)))
    if "Attributes" in frame.columns:
        for name, values in _attribute_columns(frame["Attributes"]).items():
            columns.setdefault(SHORT_NAMES.get(name, name), values)
    if "ContentLength" in columns:
        columns["ContentLength"] = _typed(columns["ContentLength"], "Integer")
    if "ContentDate" in frame.columns:
        dates = frame["ContentDate"]
        columns["start"] = utc_times([content_start(cell) for cell in dates])
        ends = [cell.get("End") if isinstance(cell, Mapping) else None for cell in dates]
        columns["end"] = utc_times(ends)
    for name in ("start", "end"):
        columns[name] = utc_times(columns.get(name, [None] * len(index)))
    bursts = "BurstId" in columns or "ParentProductId" in columns
    short = columns.get("platform_short_name")
    if short is None and bursts:
        short = pd.Series("SENTINEL-1", index=index, dtype=object)
    platform = _platform(short, columns.get("platform_serial_identifier"))
    if platform is not None:
        columns.setdefault("platform", platform)
    if any(column in frame.columns for column in ("GeoFootprint", "Footprint")):
        shapes = footprints_of(frame)
    else:
        shapes = list(columns.get("geometry", [None] * len(index)))
    for name in DROPPED:
        columns.pop(name, None)
    ordered = [name for name in LEADING if name in columns]
    ordered += [name for name in KEYS if name in columns and name not in ordered]
    ordered += [name for name in columns if name not in ordered and name != "geometry"]
    result = pd.DataFrame({name: columns[name].set_axis(index) for name in ordered}, index=index)
    result["geometry"] = pd.Series(parse_footprints(shapes), index=index, dtype=object)
    return _geo(result)


def _geo(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a GeoDataFrame in EPSG:4326 when geopandas is installed."""
    try:
        import geopandas
    except ImportError:
        return frame
    return geopandas.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
