"""Search result files: write a result frame as CSV, JSON, GeoJSON or GeoParquet, and read it back.

The format follows the file extension, or is named (``--format``). ``search`` writes the tidy
view (`catalogue.tidy`): dates as ISO 8601 text in UTC (``...Z``), the ``geometry`` as the
feature's geometry in GeoJSON, a GeoJSON object in JSON, WKT in CSV and WKB in GeoParquet
(written through geopandas, so ``geopandas.read_parquet`` reads it). Nested values
(``Checksum``; ``Attributes``, ``ContentDate`` of a raw frame) stay nested in JSON and GeoJSON
and are JSON text in CSV and Parquet cells; reading turns them back into lists and dicts, so
a file written by ``search --out`` feeds ``download`` with everything it needs (Ids, names,
sizes, checksums).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from pandas.api.types import is_object_dtype, is_string_dtype

FORMATS = {".csv": "csv", ".json": "json", ".geojson": "geojson", ".parquet": "parquet"}
KINDS = tuple(dict.fromkeys(FORMATS.values()))
GEO_EXTRA = "pip install 'phidown_async[geo]'"
BURST_COLUMNS = ("BurstId", "ParentProductId")


class ResultFileError(ValueError):
    """A result file cannot be written or read (unknown format, bad content)."""


def file_format(path: str | Path) -> str:
    """``csv``, ``json``, ``geojson`` or ``parquet``, from the extension.

    Raises:
        ResultFileError: another extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ResultFileError(
            f"{Path(path).name}: unknown result format {suffix or '(none)'}; "
            f"use one of {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


def is_burst_frame(df: pd.DataFrame) -> bool:
    """True when the rows are Sentinel-1 bursts (burst searches have BurstId/ParentProductId)."""
    return any(column in df.columns for column in BURST_COLUMNS)


def _plain(value: Any) -> Any:
    """``value`` made JSON-ready: numpy scalars and arrays to Python, NaN to None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _plain(value.tolist())
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, shapely.Geometry):
        return json.loads(shapely.to_geojson(value))
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as JSON-ready dicts (missing values are None)."""
    return [_plain(row) for row in df.to_dict("records")]


def _nested(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) or (
        hasattr(value, "tolist") and hasattr(value, "ndim") and value.ndim > 0
    )


def _flatten(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with nested cells as JSON text (for the flat formats)."""
    out = df.copy()
    for column in out.columns:
        if is_object_dtype(out[column]) and out[column].map(_nested).any():
            out[column] = out[column].map(
                lambda v: json.dumps(_plain(v), separators=(",", ":")) if _nested(v) else v
            )
    return out


def _json_text(value: Any) -> bool:
    return isinstance(value, str) and value[:1] in ("{", "[")


def _unflatten(df: pd.DataFrame) -> pd.DataFrame:
    """Cells holding JSON objects or arrays become dicts and lists again."""
    for column in df.columns:
        # pandas 3 reads text as its "str" dtype, older versions as object.
        if not (is_object_dtype(df[column]) or is_string_dtype(df[column])):
            continue
        cells = df[column].dropna()
        if cells.empty or not cells.map(_json_text).all():
            continue
        try:
            df[column] = df[column].map(lambda v: json.loads(v) if _json_text(v) else v)
        except (ValueError, RecursionError):
            continue  # text that merely starts with a bracket, or nests too deeply
    return df


def _lists(df: pd.DataFrame) -> pd.DataFrame:
    """Array cells (Parquet lists, as geopandas writes ``Checksum``) become Python lists."""
    for column in df.columns:
        if is_object_dtype(df[column]) and df[column].map(_nested).any():
            df[column] = df[column].map(lambda v: _plain(v) if _nested(v) else v)
    return df


def _feature(row: dict[str, Any]) -> dict[str, Any]:
    geometry = row.pop("geometry") if "geometry" in row else row.pop("GeoFootprint", None)
    return {"type": "Feature", "geometry": geometry, "properties": row}


def _wkt(value: Any) -> Any:
    return shapely.to_wkt(value) if isinstance(value, shapely.Geometry) else value


def render(df: pd.DataFrame, kind: str) -> str:
    """``df`` as the text of a ``csv``, ``json`` or ``geojson`` result file."""
    if kind == "csv":
        flat = pd.DataFrame(_flatten(df))
        if "geometry" in flat.columns:
            flat["geometry"] = flat["geometry"].astype(object).map(_wkt)
        return flat.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    if kind == "json":
        return json.dumps(records(df), indent=1) + "\n"
    collection = {"type": "FeatureCollection", "features": [_feature(r) for r in records(df)]}
    return json.dumps(collection) + "\n"


def require_geopandas() -> None:
    """Raise `ResultFileError` naming the extra to install when geopandas is missing."""
    if importlib.util.find_spec("geopandas") is None:
        raise ResultFileError(f"writing GeoParquet needs geopandas: {GEO_EXTRA}")


def _geoparquet(df: pd.DataFrame, target: Path) -> None:
    require_geopandas()
    import geopandas

    frame = geopandas.GeoDataFrame(_flatten(df), geometry="geometry", crs="EPSG:4326")
    frame.to_parquet(target, index=False)


def write_results(df: pd.DataFrame, path: str | Path, kind: str | None = None) -> Path:
    """Write ``df`` to ``path`` as ``kind`` (default: by its extension); returns the path.

    A frame with a ``geometry`` column (the tidy view) is written to Parquet as GeoParquet.

    Raises:
        ResultFileError: unknown extension, GeoParquet without geopandas, Parquet without
            pyarrow.
        OSError: the file cannot be written.
    """
    target = Path(path)
    kind = kind or file_format(target)
    if target.parent != Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    if kind != "parquet":
        target.write_text(render(df, kind), encoding="utf-8")
        return target
    try:
        if "geometry" in df.columns:
            _geoparquet(df, target)
        else:
            _flatten(df).to_parquet(target, index=False)
    except ImportError:
        raise ResultFileError(f"writing Parquet needs pyarrow: {GEO_EXTRA}") from None
    return target


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a result file written by `write_results` (or by hand in the same shapes).

    JSON may be a list of objects or an OData page (``{"value": [...]}``); GeoJSON features
    give their properties plus ``GeoFootprint`` (the geometry).

    Raises:
        ResultFileError: unknown extension, content that is not a result file (the message
            is ``cannot read FILE: reason``), or Parquet without pyarrow.
        OSError: the file cannot be opened.
    """
    source = Path(path)
    kind = file_format(source)
    try:
        return _read(source, kind)
    except RecursionError:
        reason = "its values are nested too deeply"
    except UnicodeDecodeError:
        reason = "it is not UTF-8 text"
    except (ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, ResultFileError):
            raise
        reason = f"not a valid {kind} result file ({_first_line(exc)})"
    raise ResultFileError(f"cannot read {source}: {reason}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _read(source: Path, kind: str) -> pd.DataFrame:
    if kind == "csv":
        return _unflatten(pd.read_csv(source, dtype={"Id": str, "ParentProductId": str}))
    if kind == "parquet":
        try:
            return _lists(_unflatten(pd.read_parquet(source)))
        except ImportError:
            raise ResultFileError("reading Parquet needs pyarrow: pip install pyarrow") from None
        except Exception as exc:
            # pyarrow's own errors (ArrowInvalid is a ValueError, some others are not).
            if not type(exc).__module__.startswith("pyarrow"):
                raise
            raise ResultFileError(
                f"cannot read {source}: not a valid parquet result file ({_first_line(exc)})"
            ) from None
    data = json.loads(source.read_text(encoding="utf-8"))
    if kind == "geojson":
        features = data.get("features") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise ResultFileError(f"cannot read {source}: not a GeoJSON FeatureCollection")
        if not isinstance(features, list | None):
            raise ResultFileError(f"cannot read {source}: its features are not a list")
        rows = []
        for feature in features or []:
            if not isinstance(feature, dict):
                raise ResultFileError(f"cannot read {source}: a feature is not a JSON object")
            row = dict(feature.get("properties") or {})
            row["GeoFootprint"] = feature.get("geometry")
            rows.append(row)
        return pd.DataFrame(rows)
    if isinstance(data, dict) and isinstance(data.get("value"), list):
        data = data["value"]
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ResultFileError(f"cannot read {source}: it must hold a list of result objects")
    return pd.DataFrame(data)
