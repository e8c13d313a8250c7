"""The search options shared by ``search`` and ``download``: one definition, two commands.

Every parameter of phidown's ``query_by_filter`` is an option; `with_search_options` adds
them to a typer command and hands the command one `SearchOptions` value instead of twenty
keyword arguments. The AOI may be WKT or a GeoJSON file; attributes are ``key=value``;
choices are taken in any case and ``--end`` given as a date includes that day (`wording`).
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from ..data import valid_values
from ..errors import QueryError
from ..query.parameters import MAX_TOP, SearchParams, validate_search
from . import wording

PANEL = "Search options"
BURST_PANEL = "Burst search options (with --burst-mode)"
_INTEGER = re.compile(r"[+-]?\d+")
_AOI_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def _option(*names: str, help: str, panel: str = PANEL, **extra: Any) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False, **extra)


# (field, annotation, default); the order is the order of --help.
_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    (
        "collection",
        Annotated[
            str | None,
            _option("--collection", "-c", help="Collection, e.g. SENTINEL-1 (the default)."),
        ],
        None,
    ),
    (
        "product_type",
        Annotated[
            str | None, _option("--product-type", "-t", help="Product type, e.g. SLC, GRD, L2A.")
        ],
        None,
    ),
    (
        "start",
        Annotated[
            str | None,
            _option("--start", help="Start of the period, ISO 8601 (2024-06-01), inclusive."),
        ],
        None,
    ),
    (
        "end",
        Annotated[
            str | None,
            _option(
                "--end",
                help="End of the period, ISO 8601. A date alone includes that whole day "
                "(--end 2024-07-31: all of July 31st); a date-time is exclusive for products.",
            ),
        ],
        None,
    ),
    (
        "aoi",
        Annotated[
            str | None,
            _option("--aoi", help="Area of interest: WKT, or the path of a GeoJSON file."),
        ],
        None,
    ),
    (
        "orbit_direction",
        Annotated[str | None, _option("--orbit-direction", help="ASCENDING or DESCENDING.")],
        None,
    ),
    (
        "cloud_cover",
        Annotated[float | None, _option("--cloud-cover", help="Maximum cloud cover in percent.")],
        None,
    ),
    (
        "attribute",
        Annotated[
            list[str] | None,
            _option(
                "--attribute",
                "-a",
                help="Catalogue attribute filter KEY=VALUE, repeatable "
                "(e.g. -a relativeOrbitNumber=117).",
            ),
        ],
        None,
    ),
    (
        "order_by",
        Annotated[
            str | None,
            _option("--order-by", help="Field and direction, e.g. 'ContentDate/Start asc'."),
        ],
        None,
    ),
    (
        "limit",
        Annotated[
            int | None,
            _option(
                "--limit", "-n", help="Return at most this many results (default: all).", min=1
            ),
        ],
        None,
    ),
    (
        "top",
        Annotated[
            int | None,
            _option("--top", help=f"Results per catalogue page, 1..{MAX_TOP} (default {MAX_TOP})."),
        ],
        None,
    ),
    (
        "skip",
        Annotated[int | None, _option("--skip", help="Fetch one page starting at this offset.")],
        None,
    ),
    (
        "burst_mode",
        Annotated[
            bool,
            _option(
                "--burst-mode",
                help="Search Sentinel-1 bursts instead of products.",
                panel=BURST_PANEL,
            ),
        ],
        False,
    ),
    (
        "burst_id",
        Annotated[int | None, _option("--burst-id", help="Relative burst id.", panel=BURST_PANEL)],
        None,
    ),
    (
        "absolute_burst_id",
        Annotated[
            int | None,
            _option("--absolute-burst-id", help="Absolute burst id.", panel=BURST_PANEL),
        ],
        None,
    ),
    (
        "swath",
        Annotated[
            str | None,
            _option("--swath", help="Sub-swath: IW1, IW2, IW3, EW1..EW5.", panel=BURST_PANEL),
        ],
        None,
    ),
    (
        "parent_product_name",
        Annotated[
            str | None,
            _option("--parent-product-name", help="Name of the parent SLC.", panel=BURST_PANEL),
        ],
        None,
    ),
    (
        "parent_product_type",
        Annotated[
            str | None,
            _option("--parent-product-type", help="IW_SLC__1S or EW_SLC__1S.", panel=BURST_PANEL),
        ],
        None,
    ),
    (
        "parent_product_id",
        Annotated[
            str | None,
            _option("--parent-product-id", help="Id of the parent SLC.", panel=BURST_PANEL),
        ],
        None,
    ),
    (
        "datatake_id",
        Annotated[int | None, _option("--datatake-id", help="Datatake id.", panel=BURST_PANEL)],
        None,
    ),
    (
        "relative_orbit",
        Annotated[
            int | None,
            _option("--relative-orbit", help="Relative orbit number.", panel=BURST_PANEL),
        ],
        None,
    ),
    (
        "operational_mode",
        Annotated[str | None, _option("--operational-mode", help="IW or EW.", panel=BURST_PANEL)],
        None,
    ),
    (
        "polarisation",
        Annotated[
            str | None,
            _option("--polarisation", help="VV, VH, HH or HV.", panel=BURST_PANEL),
        ],
        None,
    ),
    (
        "platform",
        Annotated[
            str | None, _option("--platform", help="Platform serial: A, B or C.", panel=BURST_PANEL)
        ],
        None,
    ),
)


@dataclass(frozen=True)
class SearchOptions:
    """The search options of one command line, as given (None: not given)."""

    collection: str | None = None
    product_type: str | None = None
    start: str | None = None
    end: str | None = None
    aoi: str | None = None
    orbit_direction: str | None = None
    cloud_cover: float | None = None
    attribute: list[str] | None = None
    order_by: str | None = None
    limit: int | None = None
    top: int | None = None
    skip: int | None = None
    burst_mode: bool = False
    burst_id: int | None = None
    absolute_burst_id: int | None = None
    swath: str | None = None
    parent_product_name: str | None = None
    parent_product_type: str | None = None
    parent_product_id: str | None = None
    datatake_id: int | None = None
    relative_orbit: int | None = None
    operational_mode: str | None = None
    polarisation: str | None = None
    platform: str | None = None

    def given(self) -> bool:
        """True when at least one search option was given."""
        return any(getattr(self, f.name) not in (None, False, []) for f in fields(self))

    @property
    def single_page(self) -> bool:
        """True when one catalogue page is enough (a small ``--limit`` or a ``--skip``)."""
        return self.skip is not None or (
            self.limit is not None and self.limit <= MAX_TOP and self.top is None
        )

    def params(self) -> SearchParams:
        """The validated search parameters.

        Raises:
            QueryError, QueryTypeError: a value is invalid (the message names the option).
            typer.BadParameter: the AOI file, an attribute, a date or a choice is unusable.
        """
        tables = valid_values()
        collection = wording.choice(self.collection, tables.collections)
        if collection is not None and collection not in tables.collections:
            raise typer.BadParameter(
                f"{collection!r} is not a collection; use one of {', '.join(tables.collections)}",
                param_hint="--collection",
            )
        product_type = self.product_type
        if product_type is not None and not self.burst_mode:
            product_type = wording.product_type(product_type, collection or "SENTINEL-1", tables)
        start = wording.checked_date(self.start, "--start")
        end = wording.inclusive_end(wording.checked_date(self.end, "--end"), self.burst_mode)
        values: dict[str, Any] = {
            "collection_name": collection,
            "product_type": product_type,
            "orbit_direction": wording.choice(self.orbit_direction, tables.orbit_directions),
            "cloud_cover_threshold": self.cloud_cover,
            "attributes": parse_attributes(self.attribute) if self.attribute else None,
            "aoi_wkt": load_aoi(self.aoi) if self.aoi is not None else None,
            "start_date": start,
            "end_date": end,
            "skip": self.skip,
            "order_by": self.order_by,
            "burst_mode": self.burst_mode,
            "burst_id": self.burst_id,
            "absolute_burst_id": self.absolute_burst_id,
            "swath_identifier": wording.choice(self.swath, tables.swath_identifiers),
            "parent_product_name": self.parent_product_name,
            "parent_product_type": wording.choice(
                self.parent_product_type, tables.parent_product_types
            ),
            "parent_product_id": self.parent_product_id,
            "datatake_id": self.datatake_id,
            "relative_orbit_number": self.relative_orbit,
            "operational_mode": wording.choice(self.operational_mode, tables.operational_modes),
            "polarisation_channels": wording.choice(
                self.polarisation, tables.polarisation_channels
            ),
            "platform_serial_identifier": wording.choice(
                self.platform, tables.platform_serial_identifiers
            ),
        }
        if collection is None:
            values.pop("collection_name")  # phidown's default, SENTINEL-1
        if self.order_by is None:
            values.pop("order_by")
        top = self.top
        if top is None and self.single_page and self.limit is not None:
            top = self.limit
        if top is not None:
            values["top"] = top
        try:
            return validate_search(**values)
        except QueryError as exc:  # phidown's words for the facade; the options' here
            raise type(exc)(wording.in_cli_terms(str(exc))) from None


def with_search_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add every search option to ``command``, which receives them as ``search=SearchOptions``.

    ``command`` must have a keyword parameter named ``search``.
    """
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "search"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in _OPTIONS
    ]
    names = [name for name, _, _ in _OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in names if name in kwargs}
        return command(*args, search=SearchOptions(**given), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    return wrapper


def parse_attributes(values: list[str]) -> dict[str, str | int | float]:
    """``["orbitNumber=123", "productClass=S"]`` as a dict; numbers become int or float.

    Raises:
        typer.BadParameter: a value is not ``KEY=VALUE`` with a non-empty key.
    """
    attributes: dict[str, str | int | float] = {}
    for value in values:
        key, sep, text = value.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--attribute")
        attributes[key] = _scalar(text.strip())
    return attributes


def _scalar(text: str) -> str | int | float:
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    # "nan" and "inf" are words here, not numbers.
    return number if number == number and abs(number) != float("inf") else text


def load_aoi(value: str) -> str:
    """The AOI as WKT: ``value`` itself, or the geometry of the GeoJSON file it names.

    A FeatureCollection's geometries are merged into one (their union).

    Raises:
        typer.BadParameter: the file is not GeoJSON or holds no usable geometry.
    """
    path = Path(value)
    looks_like_file = path.suffix.lower() in (".geojson", ".json")
    if not looks_like_file and not _is_file(path):
        return value
    import shapely  # only for a GeoJSON file: keeps --help quick
    import shapely.geometry
    from shapely.errors import GEOSException

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {value}: {exc.strerror}", param_hint="--aoi"
        ) from None
    except ValueError as exc:
        raise typer.BadParameter(f"{value} is not JSON: {exc}", param_hint="--aoi") from None
    geometries = _geojson_geometries(data)
    if not geometries:
        raise typer.BadParameter(f"{value} holds no geometry", param_hint="--aoi")
    try:
        shapes = [shapely.geometry.shape(g) for g in geometries]
        merged = shapes[0] if len(shapes) == 1 else shapely.union_all(shapes)
        merged = shapely.force_2d(merged)
    except (GEOSException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise typer.BadParameter(f"{value}: invalid geometry: {exc}", param_hint="--aoi") from None
    if merged.is_empty or merged.geom_type not in _AOI_TYPES:
        raise typer.BadParameter(
            f"{value}: the geometry must be one of {', '.join(_AOI_TYPES)} "
            f"(got {merged.geom_type})",
            param_hint="--aoi",
        )
    return merged.wkt


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a long WKT string is not a valid path on some systems
        return False


def _geojson_geometries(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        return []
    kind = data.get("type")
    if kind == "FeatureCollection":
        found: list[dict[str, Any]] = []
        for feature in data.get("features") or []:
            found += _geojson_geometries(feature)
        return found
    if kind == "Feature":
        geometry = data.get("geometry")
        return [geometry] if isinstance(geometry, dict) else []
    if kind == "GeometryCollection":
        return [g for g in data.get("geometries") or [] if isinstance(g, dict)]
    return [data] if isinstance(kind, str) and "coordinates" in data else []
