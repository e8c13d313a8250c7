"""``phidown-async download``: fetch products or bursts with live progress; resumable, verified.

Items come from a search result file, from product names or Ids, or from search options.
The command line becomes a `run.DownloadPlan`, which `run.execute` carries out through the
engine with a progress renderer as its event sink. Ctrl-C cancels the run: the engine keeps
every ``.part`` file and puts its ledger claims back, so running the same command again
resumes where it stopped. ``--dry-run`` plans the run without fetching
(`dryrun`); ``--json`` prints the summary as JSON instead of the human output. The engine
is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ..account_list import load_accounts
from ..config import (
    DEFAULT_LOWEST_SPEED,
    DEFAULT_SPEED_TIME,
    Endpoints,
    Limits,
)
from ..errors import ConfigError
from ..retry import RetryPolicy
from .console import (
    fail,
    stdout,
)
from .options import SearchOptions, with_search_options
from .report import summary_json
from .run import DownloadPlan, Transport, execute, run_failures

if TYPE_CHECKING:
    import pandas as pd

    from ..cluster.start import ClusterSpec

__all__ = ["TOTP_OPTION", "download", "gather_items"]

PANEL = "Download options"


#: ``--totp`` of the commands that log in (``download``, ``ledger --retry-failed``).
TOTP_OPTION = typer.Option(
    "--totp",
    metavar="CODE",
    help="The current code of an account with two-factor authentication (default: CDSE_TOTP).",
    show_default=False,
)


class Verification(StrEnum):
    """How far a product zip is checked before it gets its name (see `transfer`)."""

    none = "none"
    default = "default"
    full = "full"


def _cluster_spec(
    text: str | None, *, bursts: bool, transport: Transport | None, totp: str | None
) -> ClusterSpec | None:
    """The ``--cluster`` of the command line, or exit 2 saying why it cannot be used."""
    if text is None:
        return None
    from ..cluster.start import parse_cluster

    if bursts or transport is Transport.s3:
        fail("--cluster fetches products over HTTPS; bursts and S3 run in one process")
    if totp:
        fail("--cluster: the workers read the two-factor code from CDSE_TOTP, not --totp")
    try:
        return parse_cluster(text)
    except ConfigError as exc:
        fail(str(exc))


def _nothing(console: Console, *, as_json: bool, dry: bool, connections: int) -> None:
    """The output of a run without items (a search that matched nothing)."""
    if not as_json:
        console.print("Nothing to download: no items matched.")
        return
    if dry:
        from ..download.preview import DownloadPreview
        from .dryrun import as_json as plan_json

        print(plan_json(DownloadPreview(()), connections), file=console.file, flush=True)
        return
    from ..download.results import RunSummary

    print(summary_json(RunSummary((), 0.0)), file=console.file, flush=True)


def dry_run(plan: DownloadPlan, console: Console | None = None) -> None:
    """Print what ``plan`` would fetch (items, sizes, already there, bytes, time); fetch
    nothing and need no credentials.

    Raises:
        typer.Exit: as `execute`, when the look-ups or the ledger fail.
    """
    import anyio

    from .dryrun import as_json, plan_preview, print_plan

    console = console or stdout()
    with run_failures():
        preview = anyio.run(plan_preview, plan, Endpoints.from_env())
    if plan.as_json:
        print(as_json(preview, plan.limits.connections), file=console.file, flush=True)
    else:
        print_plan(console, preview, plan.limits.connections)


def _is_result_file(ref: str) -> bool:
    from .results import FORMATS

    return Path(ref).suffix.lower() in FORMATS


def gather_items(refs: list[str], search: SearchOptions) -> tuple[list[Any], pd.DataFrame | None]:
    """The items to fetch and, when they came from files or a search, their frame.

    Raises:
        typer.Exit: 2 when nothing (or too much) was given, or a file cannot be read.
    """
    import pandas as pd

    from .results import ResultFileError, read_results
    from .search import run_search

    if refs and search.given():
        fail("give either items (files, names, Ids) or search options, not both")
    if not refs and not search.given():
        fail(
            "nothing to download: give a search result file, product names or Ids, "
            "or search options (see --help)"
        )
    if not refs:
        found = run_search(search)
        assert isinstance(found, pd.DataFrame)
        return found.to_dict("records"), found
    frames: list[pd.DataFrame] = []
    names: list[str] = []
    for ref in refs:
        if not _is_result_file(ref):
            names.append(ref)
            continue
        try:
            frames.append(read_results(ref))
        except FileNotFoundError:
            fail(f"no such file: {ref}")
        except ResultFileError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot read {ref}: {exc.strerror or exc}")
    frame = pd.concat(frames, ignore_index=True) if frames else None
    rows = frame.to_dict("records") if frame is not None else []
    return [*rows, *names], frame


def _known(frame: pd.DataFrame | None) -> tuple[dict[str, int], dict[str, str]]:
    sizes: dict[str, int] = {}
    names: dict[str, str] = {}
    if frame is None or "Id" not in frame.columns:
        return sizes, names
    for row in frame.to_dict("records"):
        item = row.get("Id")
        if not isinstance(item, str):
            continue
        name = row.get("Name")
        if isinstance(name, str):
            names[item] = name
        size = row.get("ContentLength")
        if isinstance(size, int | float) and size == size and size > 0:
            sizes[item] = int(size)
    return sizes, names


@with_search_options
def download(
    items: Annotated[
        list[str] | None,
        typer.Argument(
            help="Search result files (.csv, .json, .geojson, .parquet), product names or Ids.",
            show_default=False,
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", "-o", help="Where files go.", rich_help_panel=PANEL)
    ] = Path(),
    bursts: Annotated[
        bool | None,
        typer.Option(
            "--bursts/--products",
            help="Fetch bursts or products (default: detected from the input).",
            rich_help_panel=PANEL,
            show_default=False,
        ),
    ] = None,
    transport: Annotated[
        Transport | None,
        typer.Option(
            case_sensitive=False,
            help="https (zips; the default) or s3 (SAFE folders; needs S3 keys).",
            rich_help_panel=PANEL,
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Items in flight at once (default: connections + 2, so connections never "
            "idle while a finished file is checked).",
            rich_help_panel=PANEL,
        ),
    ] = None,
    connections: Annotated[
        int,
        typer.Option(
            min=1,
            help="Connections to CDSE for the whole run (the account quota: 4).",
            rich_help_panel=PANEL,
        ),
    ] = 4,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="Ledger file (default: OUT_DIR/.phidown_ledger.sqlite).", rich_help_panel=PANEL
        ),
    ] = None,
    extract: Annotated[
        bool, typer.Option("--extract", help="Unpack each verified zip.", rich_help_panel=PANEL)
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait for items another download process holds, then check them (or leave "
            "them to it with --no-wait).",
            rich_help_panel=PANEL,
        ),
    ] = True,
    verify: Annotated[
        Verification,
        typer.Option(
            case_sensitive=False,
            help="default: size, the catalogue's checksum while streaming, the zip's "
            "directory and manifest.safe's listing; full: also every member's CRC and every "
            "listed checksum (always so when the catalogue gives no checksum); none: size "
            "and checksum only.",
            rich_help_panel=PANEL,
        ),
    ] = Verification.default,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="The same as --verify none.", rich_help_panel=PANEL)
    ] = False,
    retries: Annotated[
        int, typer.Option(min=1, help="Tries per request.", rich_help_panel=PANEL)
    ] = RetryPolicy().attempts,
    retry_delay: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds before the first retry (doubles each time).",
            rich_help_panel=PANEL,
        ),
    ] = RetryPolicy().initial_delay,
    s3_config: Annotated[
        Path, typer.Option(help="S3 keys file in phidown's format.", rich_help_panel=PANEL)
    ] = Path(".s5cfg"),
    lowest_speed: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="BYTES_PER_S",
            help="Abandon a download that stays slower than this for --speed-time seconds "
            "(stalled or dripping) and resume it with the next try; 0 turns this off.",
            rich_help_panel=PANEL,
        ),
    ] = DEFAULT_LOWEST_SPEED,
    speed_time: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="SECONDS",
            help="How long a download may stay below --lowest-speed; 0 turns the rule off.",
            rich_help_panel=PANEL,
        ),
    ] = DEFAULT_SPEED_TIME,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="SPEC",
            help="Spread the transfers over a Dask cluster (needs the dask extra): local:N "
            "starts N worker processes here, tcp://HOST:PORT joins a running scheduler "
            "(its workers must see --out-dir and have the credentials in their own "
            "environment). This process plans and keeps the ledger.",
            rich_help_panel=PANEL,
            show_default=False,
        ),
    ] = None,
    accounts: Annotated[
        Path | None,
        typer.Option(
            "--accounts",
            metavar="FILE",
            help="A TOML file of several CDSE accounts ([[account]] tables: name, "
            "username_env and password_env or netrc_machine, connections); each item goes "
            "to the account with a free connection. Each account's connections replace "
            "--connections.",
            rich_help_panel=PANEL,
            show_default=False,
        ),
    ] = None,
    dry_run_: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Plan only, fetch nothing: items, sizes, what is already there (verified "
            "on disk and in the ledger), bytes to fetch and the time that takes at "
            "--connections x 20 MB/s. Needs no credentials.",
            rich_help_panel=PANEL,
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the run's summary (or the --dry-run plan) as JSON on stdout, "
            "and nothing else there.",
            rich_help_panel=PANEL,
        ),
    ] = False,
    totp: Annotated[str | None, TOTP_OPTION] = None,
    *,
    search: SearchOptions,
) -> None:
    """Download products or Sentinel-1 bursts: concurrent, resumable, verified.

    Give a file saved by `phidown-async search --out`, product names or Ids, or search options.
    Ctrl-C stops cleanly; the same command resumes where it stopped.
    Exit status: 0 all verified, 1 some failed (each listed with its reason), the disk is
    full or items were left to another process (--no-wait), 2 bad usage, 130 Ctrl-C.

    Example:

    phidown-async download slc.csv --out-dir data/ --dry-run
    """
    from .results import is_burst_frame

    if transport is Transport.s3 and (bursts or search.burst_mode):
        fail("bursts are cut on demand over HTTPS; --transport s3 is for products")
    refs = list(items or [])
    rows, frame = gather_items(refs, search)
    console = stdout()
    if not rows:
        _nothing(console, as_json=as_json, dry=dry_run_, connections=connections)
        return
    is_bursts = bursts
    if is_bursts is None:
        is_bursts = search.burst_mode or (frame is not None and is_burst_frame(frame))
    if is_bursts and transport is Transport.s3:
        fail("bursts are cut on demand over HTTPS; --transport s3 is for products")
    if extract and (is_bursts or transport is Transport.s3):
        fail("--extract unpacks product zips fetched over HTTPS")
    if accounts is not None and transport is Transport.s3:
        fail("--accounts shares a run among CDSE accounts over HTTPS; S3 uses keys")
    spec = _cluster_spec(cluster, bursts=is_bursts, transport=transport, totp=totp)
    try:
        listed = load_accounts(accounts) if accounts is not None else ()
    except ConfigError as exc:
        fail(str(exc))
    sizes, names = _known(frame)
    plan = DownloadPlan(
        items=rows,
        count=len(rows),
        bursts=is_bursts,
        transport=(transport or Transport.https).value,
        transport_asked=transport is not None,
        out_dir=out_dir,
        ledger=ledger,
        limits=replace(
            Limits.for_connections(connections, workers),
            lowest_speed=lowest_speed,
            speed_time=speed_time,
        ),
        retry=RetryPolicy(attempts=retries, initial_delay=retry_delay),
        verify=Verification.none.value if no_verify else verify.value,
        extract=extract,
        wait=wait,
        s3_config=s3_config,
        sizes={} if is_bursts or transport is Transport.s3 else sizes,
        names=names,
        accounts=listed,
        as_json=as_json,
        totp=totp,
        cluster=spec,
    )
    if dry_run_:
        dry_run(plan, console)
        return
    code = execute(plan, console)
    if code:
        raise typer.Exit(code)
