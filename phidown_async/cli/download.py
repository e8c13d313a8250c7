"""``phidown-async download``: fetch products or bursts with live progress; resumable, verified.

Items come from a search result file, from product names or Ids, or from search options.
The run goes through the engine (`download_products`, `download_bursts`,
`download_products_s3`) with a progress renderer as its event sink. Ctrl-C cancels the run:
the engine keeps every ``.part`` file and puts its ledger claims back, so running the same
command again resumes where it stopped. ``--dry-run`` plans the run without fetching
(`dryrun`); ``--json`` prints the summary as JSON instead of the human output. The engine
is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ..account_list import Account, load_accounts
from ..config import (
    DEFAULT_LOWEST_SPEED,
    DEFAULT_SPEED_TIME,
    Credentials,
    Endpoints,
    Limits,
    S3Keys,
)
from ..errors import AuthError, ConfigError, CredentialsError, DiskFullError, PhidownError
from ..events import Event, EventSink
from ..ledger import Ledger
from ..retry import RetryPolicy
from . import logs
from .console import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    command_line,
    fail,
    stderr,
    stdout,
)
from .options import SearchOptions, with_search_options
from .progress import LiveDisplay, LogLines, RunProgress
from .report import exit_code, print_report, summary_json

if TYPE_CHECKING:
    import pandas as pd

    from ..cluster.start import ClusterSpec
    from ..download.results import RunSummary

__all__ = [
    "TOTP_OPTION",
    "DownloadPlan",
    "Transport",
    "download",
    "execute",
    "gather_items",
    "interruptible",
]

PANEL = "Download options"


#: ``--totp`` of the commands that log in (``download``, ``ledger --retry-failed``).
TOTP_OPTION = typer.Option(
    "--totp",
    metavar="CODE",
    help="The current code of an account with two-factor authentication (default: CDSE_TOTP).",
    show_default=False,
)


class Transport(StrEnum):
    """How products are fetched."""

    https = "https"
    s3 = "s3"


class Verification(StrEnum):
    """How far a product zip is checked before it gets its name (see `transfer`)."""

    none = "none"
    default = "default"
    full = "full"


@dataclass(frozen=True)
class DownloadPlan:
    """Everything one download run needs (built from the command line or the ledger).

    Attributes:
        items: a result DataFrame, or a list of entity dicts and Id/name strings.
        count: how many items (for the progress display).
        bursts: fetch Sentinel-1 bursts on demand instead of products.
        transport: ``https`` (zips) or ``s3`` (SAFE folders); products only.
        out_dir: where files go.
        ledger: the ledger file (default ``<out_dir>/.phidown_ledger.sqlite``).
        sizes, names: expected sizes and display names by Id, when known.
        wait: wait for items another process holds (else leave them to it).
        accounts: several accounts sharing the run (HTTPS); empty for the environment's one.
        as_json: print the summary as JSON, and no progress or other human output.
        totp: the account's two-factor code (default: ``CDSE_TOTP``).
        cluster: run the transfers on this Dask cluster (products over HTTPS).
    """

    items: Any
    count: int
    bursts: bool = False
    transport: str = "https"
    out_dir: Path = Path()
    ledger: Path | None = None
    limits: Limits = Limits()  # noqa: RUF009 - frozen value
    retry: RetryPolicy = RetryPolicy()  # noqa: RUF009 - frozen value
    verify: str = "default"
    extract: bool = False
    wait: bool = True
    s3_config: Path = Path(".s5cfg")
    sizes: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    accounts: tuple[Account, ...] = ()
    as_json: bool = False
    totp: str | None = field(default=None, repr=False)
    cluster: ClusterSpec | None = None

    @property
    def ledger_path(self) -> Path:
        from ..download import LEDGER_NAME

        return self.ledger if self.ledger is not None else self.out_dir / LEDGER_NAME

    @property
    def kind(self) -> str:
        """The ledger's kind of the plan's items: ``product``, ``burst`` or ``s3``."""
        if self.bursts:
            return "burst"
        return "s3" if self.transport == Transport.s3.value else "product"


@dataclass(frozen=True)
class _Access:
    credentials: Credentials | None = None
    keys: S3Keys | None = None
    why: str = ""


def _access(plan: DownloadPlan) -> _Access:
    """The credentials the plan needs (and why that transport), or exit 2 saying where to
    put them."""
    if plan.accounts:
        return _Access(why=f"{len(plan.accounts)} accounts")
    from ..download.transports import choose_transport

    try:
        if plan.bursts:
            return _Access(credentials=Credentials.from_env(totp=plan.totp))
        chosen = choose_transport(plan.transport, plan.s3_config)
        if chosen.keys is not None:
            return _Access(keys=chosen.keys, why=chosen.reason)
        return _Access(credentials=Credentials.from_env(totp=plan.totp), why=chosen.reason)
    except CredentialsError as exc:
        fail(str(exc), EXIT_USAGE)


async def _download(
    plan: DownloadPlan, endpoints: Endpoints, access: _Access, sink: EventSink
) -> RunSummary:
    from ..download import download_products
    from ..download.bursts import download_bursts
    from ..session import Session

    async with contextlib.AsyncExitStack() as stack:
        where: dict[str, Any]
        if plan.cluster is not None:
            from ..cluster.start import open_cluster

            # Each local process may hold the run's whole window of items (its workers).
            spare = max(0, plan.limits.workers - plan.limits.connections)
            window = sum(a.connections + spare for a in plan.accounts) or plan.limits.workers
            client = await stack.enter_async_context(open_cluster(plan.cluster, threads=window))
            where = {
                "cluster": client,
                "accounts": plan.accounts,
                "endpoints": endpoints,
                "limits": plan.limits,
                "retry": plan.retry,
            }
        elif plan.accounts:  # the engine opens a session per account
            where = {
                "accounts": plan.accounts,
                "endpoints": endpoints,
                "limits": plan.limits,
                "retry": plan.retry,
            }
        else:
            # share_login: the runs of one process (ledger --retry-failed runs one per kind
            # of item) log in once.
            session = Session(
                endpoints,
                access.credentials,
                limits=plan.limits,
                retry=plan.retry,
                sink=sink,
                share_login=True,
            )
            where = {"session": await stack.enter_async_context(session)}
        common = {**where, "ledger_path": plan.ledger_path, "wait": plan.wait, "sink": sink}
        if plan.bursts:
            return await download_bursts(plan.items, plan.out_dir, **common)
        if plan.transport == Transport.s3.value:
            from ..download.s3 import download_products_s3  # aiobotocore only when S3 is used

            return await download_products_s3(plan.items, plan.out_dir, keys=access.keys, **common)
        return await download_products(
            plan.items, plan.out_dir, verify=plan.verify, extract=plan.extract, **common
        )


async def interruptible(
    func: Callable[..., Awaitable[RunSummary]], *args: Any
) -> RunSummary | None:
    """Run ``func(*args)``; None when SIGINT/SIGTERM stopped it (after it cleaned up)."""
    import anyio

    from ..concurrency import FirstErrorGroup

    result: RunSummary | None = None
    watch_signals = threading.current_thread() is threading.main_thread()
    async with FirstErrorGroup() as group:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    group.cancel_scope.cancel()
                    return

        if watch_signals:
            group.start_soon(watch)
        result = await func(*args)
        group.cancel_scope.cancel()
    return result


def _interrupted(console: Console, plan: DownloadPlan) -> int:
    done = ""
    if plan.ledger_path.is_file():
        with (
            contextlib.suppress(PhidownError),
            Ledger(plan.ledger_path, readonly=True) as ledger,
        ):
            counts = ledger.summary()
            done = f" {counts.done} of {counts.total} items are done;"
    again = command_line()
    console.print(
        f"Interrupted.{done} partial files are kept in {plan.out_dir} and resume where they "
        "stopped. To resume, run the same command again" + (f":\n  {again}" if again else "."),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_INTERRUPTED


def _fan_out(*sinks: EventSink) -> EventSink:
    def sink(event: Event) -> None:
        for each in sinks:
            each(event)

    return sink


def _display(plan: DownloadPlan, progress: RunProgress, console: Console) -> Any:
    """The progress view of the run: live on a terminal, log lines elsewhere, none when
    quiet or printing JSON."""
    if plan.as_json or logs.current.get().quiet:
        return contextlib.nullcontext()
    if console.is_terminal:
        return LiveDisplay(progress, console).live()
    LogLines(progress, console.file)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _run_failures() -> Iterator[None]:
    """The run's errors as one sentence each, with their exit codes."""
    try:
        yield
    except CredentialsError as exc:
        fail(str(exc), EXIT_USAGE)
    except AuthError as exc:
        fail(f"CDSE refused the account: {exc}", EXIT_FAILED)
    except DiskFullError as exc:
        fail(f"{exc}; free space and run the same command again", EXIT_FAILED)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except PhidownError as exc:
        fail(f"the download could not go on: {exc}", EXIT_FAILED)
    except (TypeError, ValueError) as exc:
        # The items themselves are unusable (e.g. rows with neither Id nor Name).
        fail(f"cannot download these items: {exc}", EXIT_USAGE)


def execute(plan: DownloadPlan, console: Console | None = None) -> int:
    """Run ``plan`` with live progress (or log lines), then print the summary.

    Returns:
        The exit code: 0 all verified, 1 some failed, 130 interrupted.

    Raises:
        typer.Exit: 2 when credentials are missing or refused or the ledger cannot be used,
            1 when the run could not go on (e.g. the disk is full).
    """
    import anyio

    console = console or stdout()
    access = _access(plan)
    endpoints = Endpoints.from_env()
    progress = RunProgress(plan.count, sizes=plan.sizes, names=plan.names)
    sink: EventSink = progress
    if logs.current.get().log_events:
        from ..logs import LoggingSink

        sink = _fan_out(progress, LoggingSink())
    if not plan.as_json and not logs.current.get().quiet:
        what = "bursts" if plan.bursts else f"products over {plan.transport.upper()}"
        why = ", ".join(str(part) for part in (access.why, plan.cluster) if part)
        why = f" ({why})" if why else ""
        console.print(f"Downloading {plan.count} {what} to {plan.out_dir}{why}", markup=False)
    with _run_failures(), _display(plan, progress, console):
        summary = anyio.run(interruptible, _download, plan, endpoints, access, sink)
    if summary is None:  # with --json, stdout keeps to JSON
        return _interrupted(stderr() if plan.as_json else console, plan)
    if plan.as_json:
        print(summary_json(summary), file=console.file, flush=True)
        return exit_code(summary)
    return print_report(console, summary, command_line())


def _cluster_spec(
    text: str | None, *, bursts: bool, transport: Transport, totp: str | None
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
    with _run_failures():
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
        Transport,
        typer.Option(
            case_sensitive=False,
            help="https (zips) or s3 (SAFE folders; needs S3 keys).",
            rich_help_panel=PANEL,
        ),
    ] = Transport.https,
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
    Exit status: 0 all verified, 1 some failed (each listed with its reason), 2 bad usage.

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
        transport=transport.value,
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
