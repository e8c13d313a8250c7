"""``phidown-async search``: query the catalogue; print a table, a count, JSON, or save a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..config import Endpoints, Limits
from ..errors import PhidownError, QueryError
from ..query.parameters import SearchParams
from .console import EXIT_FAILED, fail, format_bytes, stdout
from .options import SearchOptions, with_search_options

if TYPE_CHECKING:  # the engine and pandas load when a search runs, not for --help
    import pandas as pd

# A terminal table is for looking; files are for everything.
TABLE_ROWS = 50


def search_params(options: SearchOptions) -> SearchParams:
    """Validated parameters, or exit 2 with the reason."""
    try:
        return options.params()
    except QueryError as exc:  # also the TypeError flavour
        fail(str(exc))


async def _search(
    params: SearchParams, options: SearchOptions, endpoints: Endpoints, count_only: bool
) -> pd.DataFrame | int:
    from ..catalogue.search import Search
    from ..session import Session

    async with Session(endpoints, limits=Limits()) as session:
        search = Search(session, params, all_pages=not options.single_page)
        if count_only:
            return await search.count()
        frame = await search.frame()
    if options.limit is not None:
        frame = frame.head(options.limit)
    return frame


def run_search(options: SearchOptions, *, count_only: bool = False) -> pd.DataFrame | int:
    """Run the search of ``options`` against the configured catalogue.

    Returns:
        The number of matches with ``count_only``, else the result frame.

    Raises:
        typer.Exit: 2 for invalid options, 1 when the catalogue fails.
    """
    import anyio

    params = search_params(options)
    try:
        return anyio.run(_search, params, options, Endpoints.from_env(), count_only)
    except QueryError as exc:
        fail(str(exc))
    except PhidownError as exc:
        fail(f"the search failed: {exc}", EXIT_FAILED)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _start(row: pd.Series) -> str:
    dates = row.get("ContentDate")
    start = dates.get("Start") if isinstance(dates, dict) else None
    return _text(start)[:16].replace("T", " ")


def _coverage(row: pd.Series) -> str:
    value = row.get("coverage")
    return "" if value is None or value != value else f"{float(value):.1f}%"


def results_table(df: pd.DataFrame, rows: int = TABLE_ROWS) -> Table:
    """A table of the first ``rows`` results (products or bursts)."""
    from .results import is_burst_frame

    bursts = is_burst_frame(df)
    table = Table(title=f"{len(df)} {'bursts' if bursts else 'products'}", title_justify="left")
    if bursts:
        for column in ("Start", "Burst", "Swath", "Pol.", "Orbit", "Coverage"):
            table.add_column(column, no_wrap=True)
        table.add_column("Parent product", no_wrap=True, overflow="ellipsis")
        for _, row in df.head(rows).iterrows():
            table.add_row(
                _start(row),
                _text(row.get("BurstId")),
                _text(row.get("SwathIdentifier")),
                _text(row.get("PolarisationChannels")),
                _text(row.get("OrbitDirection")),
                _coverage(row),
                _text(row.get("ParentProductName")),
            )
    else:
        table.add_column("Start", no_wrap=True)
        table.add_column("Name", overflow="fold")
        for column in ("Size", "Coverage"):
            table.add_column(column, no_wrap=True, justify="right")
        for _, row in df.head(rows).iterrows():
            size = row.get("ContentLength")
            table.add_row(
                _start(row),
                _text(row.get("Name")),
                format_bytes(size) if isinstance(size, int | float) and size == size else "",
                _coverage(row),
            )
    if len(df) > rows:
        table.caption = f"first {rows} of {len(df)}; use --out FILE to save them all"
    return table


STDOUT = "-"


def output_kind(out: Path | None, chosen: str | None, as_json: bool, count: bool) -> str | None:
    """The format to write ``--out`` in (None without ``--out``), or exit 2 with the reason."""
    from .results import KINDS, ResultFileError, file_format

    if chosen is not None and chosen.lower() not in KINDS:
        fail(f"--format {chosen}: choose one of {', '.join(KINDS)}")
    if out is None:
        if chosen is not None:
            fail("--format names the format of --out; add --out FILE, or --out - for stdout")
        return None
    if count:
        fail("--count prints a number; leave out --out (or --count)")
    to_stdout = str(out) == STDOUT
    if to_stdout and as_json:
        fail("--json and --out - both write to stdout; keep one")
    if chosen is None:
        if to_stdout:
            return "csv"
        try:
            return _ready(file_format(out))
        except ResultFileError as exc:
            fail(str(exc))
    kind = chosen.lower()
    if to_stdout and kind == "parquet":
        fail("Parquet is binary and cannot go to stdout; use --out FILE.parquet")
    return _ready(kind)


def _ready(kind: str) -> str:
    """``kind``, once what writing it needs is known to be installed (else exit 2)."""
    from .results import ResultFileError, require_geopandas

    if kind == "parquet":
        try:
            require_geopandas()
        except ResultFileError as exc:
            fail(str(exc))
    return kind


def _say(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


@with_search_options
def search(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Save the results (the tidy view) to FILE: .csv, .json, .geojson or .parquet "
            "(GeoParquet), by extension or --format; '-' writes them to stdout (CSV by default).",
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Format of --out: csv, json, geojson or parquet (not for stdout).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the results (the tidy view) as JSON; with --count or --out, what "
            "would be printed.",
        ),
    ] = False,
    count: Annotated[
        bool, typer.Option("--count", help="Print only the number of matches.")
    ] = False,
    *,
    search: SearchOptions,
) -> None:
    """Search the CDSE catalogue for products or Sentinel-1 bursts.

    Every search parameter of phidown's query_by_filter is an option.
    Results are shown as a table, or saved with --out for `phidown-async download`.
    Saved and printed results are the tidy view: UTC times (start, end), the footprint as
    geometry, one column per attribute (platform, orbit_direction, relative_orbit, ...).

    Example:

    phidown-async search -c SENTINEL-1 -t SLC --start 2024-07-01 --end 2024-07-31 --out slc.csv
    """
    from ..catalogue.tidy import tidy
    from .results import ResultFileError, is_burst_frame, render, write_results

    kind = output_kind(out, output_format, as_json, count)
    console = stdout()
    found = run_search(search, count_only=count)
    if isinstance(found, int):
        _say(json.dumps({"count": found}) if as_json else str(found))
        return
    if out is None:
        if as_json:
            _say(render(tidy(found), "json"))
        else:
            console.print(results_table(found))
        return
    assert kind is not None
    what = "bursts" if is_burst_frame(found) else "products"
    if str(out) == STDOUT:
        _say(render(tidy(found), kind))
        return
    try:
        write_results(tidy(found), out, kind)
    except (ResultFileError, OSError) as exc:
        fail(f"cannot write {out}: {exc}", EXIT_FAILED)
    if as_json:
        _say(json.dumps({"saved": str(out), "format": kind, what: len(found)}))
    else:
        console.print(f"Saved {len(found)} {what} to {out}")
