"""``CopernicusDataSearcher``: phidown's synchronous search API, run on the async core.

Method names, parameters, defaults, attributes and return types are phidown's
(``reference/phidown-spec.md`` sections 1-10); the work is done by
:class:`phidown_async.catalogue.Search` and :mod:`phidown_async.analysis` through a blocking
portal, so it also works inside a running event loop (a Jupyter cell). Differences from
phidown, on purpose:

- every page of a search is fetched (concurrently, bounded, retried) or the search raises;
  ``allow_partial=True`` returns what could be fetched with ``df.attrs["incomplete"]`` set;
- past 10,000 matches the search is split by time, so ``count=True`` returns all matches;
- SENTINEL-1 short product types (``SLC``) match CDSE's real codes (``IW_SLC__1S``, ...);
- validation happens before any attribute changes (no half-updated searcher);
- name queries go to Products after a burst query (phidown sends them to the Bursts URL
  that query set; a ``base_url`` the user assigns is honoured, as phidown does), and raise
  typed errors instead of printing them (a product that does not exist gives an empty frame);
- a ``base_url`` ending in ``/Bursts`` names the Bursts collection of its service (phidown
  ignores the argument in burst mode);
- ``display_results`` does not rewrite ``df['OriginDate']``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from ..analysis import compute_temporal_statistics as _temporal_statistics
from ..analysis import find_optimal_bursts as _optimal_bursts
from ..analysis import find_optimal_orbit as _optimal_orbit
from ..analysis import get_aoi_centroid, get_recommended_orbit_direction
from ..analysis import plot_temporal_distribution as _plot_temporal
from ..catalogue.frame import to_frame
from ..catalogue.search import Search
from ..catalogue.tidy import tidy
from ..config import DEFAULT_CATALOGUE_URL, Endpoints
from ..data import ValidValues, valid_values
from ..errors import NotFoundError, QueryError
from ..portal import run_sync
from ..query.odata import (
    build_filter,
    build_params,
    build_url,
    collection_url,
    name_params,
    name_pattern_params,
    raw_url,
)
from ..query.parameters import (
    BURST_ONLY_PARAMETERS,
    SearchParams,
    validate_name,
    validate_name_pattern,
    validate_search,
)
from ..session import Session
from .downloads import DownloadMethods

PRODUCTS_URL = f"{DEFAULT_CATALOGUE_URL}/Products"
_PRODUCT_COLUMNS = ["Id", "coverage", "Name", "S3Path", "GeoFootprint", "OriginDate", "Attributes"]
_BURST_COLUMNS = [
    "Id",
    "coverage",
    "BurstId",
    "SwathIdentifier",
    "ParentProductName",
    "PolarisationChannels",
    "OrbitDirection",
    "ContentDate",
]


def _load_tables(config_path: str | Path | None) -> ValidValues:
    if config_path is None:
        return valid_values()
    path = Path(config_path)
    if not path.is_file():
        raise FileNotFoundError(f"Configuration file not found at {path}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"Configuration file at {path} is not a valid JSON file") from None
    return ValidValues.from_phidown_config(config)


async def _search_frame(
    endpoints: Endpoints,
    params: SearchParams,
    all_pages: bool,
    allow_partial: bool,
    url: str | None = None,
) -> tuple[pd.DataFrame, int | None]:
    async with Session(endpoints) as session:
        search = Search(session, params, all_pages=all_pages, allow_partial=allow_partial, url=url)
        df = await search.frame()
        return df, search.reported_count


async def _single_page(endpoints: Endpoints, url: str) -> pd.DataFrame:
    async with Session(endpoints) as session:
        try:
            body = await session.get_json(url)
        except NotFoundError:
            return pd.DataFrame()
    return to_frame(body.get("value") or [])


class CopernicusDataSearcher(DownloadMethods):
    """Search the CDSE catalogue with phidown's API.

    Args:
        config_path: a phidown ``config.json`` with the valid-value tables (packaged ones
            by default).
        **query_kwargs: when given, passed to :meth:`query_by_filter` at once.

    Methods beyond phidown's: :meth:`tidy_results` (the results for analysis).

    Attributes beyond phidown's:
        endpoints: where requests go (``PHIDOWN_*`` environment variables, else CDSE).
        allow_partial: return what could be fetched when a page keeps failing, flagged in
            ``df.attrs["incomplete"]``, instead of raising ``SearchIncompleteError``.

    Example:
        >>> searcher = CopernicusDataSearcher()
        >>> searcher.query_by_filter(collection_name="SENTINEL-1", product_type="SLC",
        ...                          start_date="2024-08-01", end_date="2024-08-03", top=10)
        >>> df = searcher.execute_query()                           # doctest: +SKIP
    """

    _SUBSWATH_PRIORITY: ClassVar[dict[str, int]] = {"IW1": 0, "IW2": 1, "IW3": 2}

    def __init__(self, config_path: str | Path | None = None, **query_kwargs: Any) -> None:
        self._tables = _load_tables(config_path)
        self.config = self._tables
        self.endpoints = Endpoints.from_env()
        self.allow_partial = False
        self._params: SearchParams | None = None
        self.base_url = self._own_base_url = self.endpoints.products_url
        self.collection_name = None
        self.product_type = None
        self.orbit_direction = None
        self.cloud_cover_threshold = None
        self.attributes = None
        self.aoi_wkt = None
        self.start_date = None
        self.end_date = None
        self.filter_text = None
        self.burst_mode = False
        for name in BURST_ONLY_PARAMETERS:
            setattr(self, name, None)
        self.top = 1000
        self.count = False
        self.skip = None
        self.order_by = "ContentDate/Start desc"
        self.phisat2_config_file = ".s5cfg"
        self.last_download_path = None
        self._reset_placeholders()
        if query_kwargs:
            self.query_by_filter(**query_kwargs)

    def _reset_placeholders(self) -> None:
        self.filter_condition = None
        self.query = None
        self.url = None
        self.response = None
        self.json_data = None
        self.df = None

    # -- building -----------------------------------------------------------------------

    def query_by_filter(
        self,
        base_url: str = PRODUCTS_URL,
        collection_name: str | None = "SENTINEL-1",
        product_type: str | None = None,
        orbit_direction: str | None = None,
        cloud_cover_threshold: float | None = None,
        attributes: dict[str, str | int | float] | None = None,
        aoi_wkt: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        top: int = 1000,
        count: bool = False,
        skip: int | None = None,
        order_by: str = "ContentDate/Start desc",
        burst_mode: bool = False,
        burst_id: int | None = None,
        absolute_burst_id: int | None = None,
        swath_identifier: str | None = None,
        parent_product_name: str | None = None,
        parent_product_type: str | None = None,
        parent_product_id: str | None = None,
        datatake_id: int | None = None,
        relative_orbit_number: int | None = None,
        operational_mode: str | None = None,
        polarisation_channels: str | None = None,
        platform_serial_identifier: str | None = None,
        filter_text: str | None = None,
        config_file: str = ".s5cfg",
    ) -> None:
        """Validate and store search parameters (no request is made).

        Raises:
            ValueError, TypeError: phidown's messages (as QueryError / QueryTypeError).
        """
        arguments = dict(locals())
        arguments.pop("self")
        params = validate_search(**arguments, tables=self._tables)
        if base_url != PRODUCTS_URL:
            # A custom Products (or Bursts) URL names the service root; the other
            # collection lives beside it.
            root = base_url.rstrip("/").removesuffix("/Products").removesuffix("/Bursts")
            self.endpoints = replace(self.endpoints, catalogue_url=root)
        self._params = params
        self.burst_mode = params.burst_mode
        self.base_url = self._own_base_url = collection_url(params, self.endpoints.catalogue_url)
        for name in (
            "collection_name",
            "product_type",
            "orbit_direction",
            "cloud_cover_threshold",
            "attributes",
            "aoi_wkt",
            "start_date",
            "end_date",
            "top",
            "count",
            "skip",
            "order_by",
            "filter_text",
        ):
            setattr(self, name, getattr(params, name))
        self.attributes = dict(params.attributes) if params.attributes is not None else None
        if params.burst_mode:
            for name in BURST_ONLY_PARAMETERS:
                setattr(self, name, getattr(params, name))

    def _require_params(self) -> SearchParams:
        if self._params is None:
            raise QueryError("No valid filters provided. At least one filter is required.")
        return self._params

    def _name_query_url(self) -> str:
        """Where name queries go: ``base_url``, as phidown, unless it is the Bursts URL a
        burst query set (names are products')."""
        if self.burst_mode and self.base_url == self._own_base_url:
            return self.endpoints.products_url
        return self.base_url

    def _build_filter(self) -> str:
        """The ``$filter`` of the current parameters (also stored in ``filter_condition``)."""
        self.filter_condition = build_filter(self._require_params())
        return self.filter_condition

    def _build_query(self, skip: int | None = None) -> str:
        """phidown's raw (unencoded) request URL; also stored in ``url`` and ``query``."""
        params = self._require_params()
        self._build_filter()
        url = raw_url(self.base_url, build_params(params, skip=skip))
        self.url = url
        self.query = url[url.index("?") :]
        return url

    # -- searching ----------------------------------------------------------------------

    def execute_query(self) -> pd.DataFrame:
        """Run the search and return the results as a DataFrame (also ``self.df``).

        ``count=True`` fetches every match (all pages, split by time past 10,000);
        ``count=False`` fetches one page of ``top`` rows, as phidown. The request goes to
        ``base_url`` (set by ``query_by_filter``, or assigned).

        Raises:
            ServiceError: the catalogue refused the query.
            SearchIncompleteError: a page kept failing (unless ``allow_partial``).
        """
        params = self._require_params()
        self._build_query()
        df, reported = run_sync(
            _search_frame,
            self.endpoints,
            params,
            bool(params.count),
            self.allow_partial,
            self.base_url,
        )
        self.num_results = reported or 0
        self.df = df
        return df

    def query_by_name(self, product_name: str) -> pd.DataFrame:
        """The product named ``product_name`` (empty DataFrame when there is none).

        Raises:
            ValueError: ``Product name must be a non-empty string.``
            ServiceError: the catalogue failed.
        """
        name = validate_name(product_name)
        self._reset_placeholders()
        base = self._name_query_url()
        pairs = name_params(name)
        self.url = raw_url(base, pairs)
        self.df = run_sync(_single_page, self.endpoints, build_url(base, pairs))
        return self.df

    def search_products_by_name_pattern(
        self,
        name_pattern: str,
        match_type: str,
        collection_name_filter: str | None = None,
        top: int | None = None,
        order_by: str | None = None,
    ) -> pd.DataFrame:
        """Products whose name is / contains / starts with / ends with ``name_pattern``.

        Raises:
            ValueError: phidown's messages for the pattern, match type, collection and top.
        """
        query = validate_name_pattern(
            name_pattern,
            match_type,
            collection_name_filter,
            top,
            order_by,
            default_collection=self.collection_name,
            default_top=self.top,
            default_order_by=self.order_by,
            tables=self._tables,
        )
        self._reset_placeholders()
        base = self._name_query_url()
        pairs = name_pattern_params(query)
        self.url = raw_url(base, pairs)
        self.df = run_sync(_single_page, self.endpoints, build_url(base, pairs))
        return self.df

    def display_results(self, columns: list[str] | None = None, top_n: int = 10):
        """The first ``top_n`` rows of chosen columns (runs the search first if needed).

        Raises:
            TypeError: ``Columns must be a list of strings``.
        """
        if self.df is None:
            self.execute_query()
        df = self.df
        if columns is None:
            columns = _BURST_COLUMNS if self.burst_mode else _PRODUCT_COLUMNS
        if not isinstance(columns, list):
            raise TypeError("Columns must be a list of strings")
        if df is None or df.empty:
            print("The DataFrame is empty.")
            return None
        shown = df[[c for c in columns if c in df.columns]].head(top_n).copy()
        if "OriginDate" in shown.columns:
            shown["OriginDate"] = pd.to_datetime(
                shown["OriginDate"], format="ISO8601", utc=True, errors="coerce"
            ).dt.strftime("%Y-%m-%d %H:%M:%S")
        return shown

    def tidy_results(self, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """The tidy view of ``df`` for analysis (default: the last results; searches if none).

        Not in phidown, whose raw frame ``execute_query`` keeps returning. UTC datetimes
        (``start``, ``end``), the footprint as a shapely ``geometry``, one typed column per
        attribute (``platform``, ``orbit_direction``, ``relative_orbit``,
        ``polarisation``, ``cloud_cover``, ...), and ``Id``, ``Name``, ``ContentLength``,
        ``S3Path``, ``Checksum`` as they were, so the view downloads too. A GeoDataFrame
        (EPSG:4326) when geopandas is installed; see :func:`phidown_async.catalogue.tidy.tidy`.

        Example:
            >>> view = searcher.tidy_results()                     # doctest: +SKIP
            >>> view.to_parquet("slc.parquet")                     # GeoParquet
        """
        if df is None:
            if self.df is None:
                self.execute_query()
            df = self.df
        return tidy(df if df is not None else pd.DataFrame())

    # -- planning -----------------------------------------------------------------------

    async def _search_all(self, **kwargs: Any) -> pd.DataFrame:
        """A complete search that leaves this searcher's own state untouched."""
        params = validate_search(**kwargs, tables=self._tables)
        df, _ = await _search_frame(self.endpoints, params, True, self.allow_partial)
        return df

    def _aoi_and_dates(self, aoi_wkt, start_date, end_date) -> tuple[str, str, str]:
        aoi = aoi_wkt or self.aoi_wkt
        if not aoi:
            raise QueryError("AOI WKT is required")
        start, end = start_date or self.start_date, end_date or self.end_date
        if not start or not end:
            raise QueryError("Start and end dates are required")
        return aoi, start, end

    def _get_aoi_centroid(self, aoi_wkt: str | None = None) -> tuple[float, float]:
        wkt = aoi_wkt or self.aoi_wkt
        if not wkt:
            raise QueryError("AOI WKT is not set")
        return get_aoi_centroid(wkt)

    def _get_recommended_orbit_direction(self, aoi_wkt: str | None = None) -> str:
        wkt = aoi_wkt or self.aoi_wkt
        if not wkt:
            raise QueryError("AOI WKT is not set")
        return get_recommended_orbit_direction(wkt)

    def find_optimal_orbit(
        self,
        aoi_wkt: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        product_type: str = "SLC",
        top: int = 100,
    ) -> dict[str, Any]:
        """The orbit direction and relative orbit that cover the AOI best (phidown's dict)."""
        aoi, start, end = self._aoi_and_dates(aoi_wkt, start_date, end_date)
        return run_sync(_optimal_orbit, self._search_all, aoi, start, end, product_type, top)

    def find_optimal_bursts(
        self,
        aoi_wkt: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        polarisation: str = "VV",
        orbit_direction: str | None = None,
        relative_orbit_number: int | None = None,
        preferred_subswath: list[str] | None = None,
    ) -> pd.DataFrame:
        """Bursts over the AOI ranked by coverage and subswath preference (phidown's frame)."""
        aoi, start, end = self._aoi_and_dates(aoi_wkt, start_date, end_date)
        return run_sync(
            _optimal_bursts,
            self._search_all,
            aoi,
            start,
            end,
            polarisation,
            orbit_direction,
            relative_orbit_number,
            preferred_subswath,
        )

    def compute_temporal_statistics(self, df: pd.DataFrame | None = None) -> dict[str, Any]:
        """Revisit statistics of ``df`` (default: the last results), in phidown's keys."""
        return _temporal_statistics(df if df is not None else self.df)

    def plot_temporal_distribution(
        self,
        df: pd.DataFrame | None = None,
        output_path: str | None = None,
        show: bool = True,
        figsize: tuple[float, float] = (14, 10),
    ) -> str | None:
        """Four-panel PNG of the acquisitions' timing; returns its path."""
        return _plot_temporal(df if df is not None else self.df, output_path, show, figsize)
