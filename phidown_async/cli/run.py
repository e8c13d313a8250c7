"""One download run of the CLI: its plan, the credentials it needs, the engine call, the
live progress, Ctrl-C and the run's errors as one sentence each with their exit codes.

`download` builds a `DownloadPlan` from the command line, ``ledger --retry-failed`` from
the ledger; `execute` runs either.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from ..account_list import Account
from ..config import Credentials, Endpoints, Limits, S3Keys
from ..errors import AuthError, ConfigError, CredentialsError, DiskFullError, PhidownError
from ..events import Event, EventSink
from ..ledger import Ledger
from ..retry import RetryPolicy
from . import logs
from .console import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, command_line, fail, stderr, stdout
from .progress import LiveDisplay, LogLines, RunProgress
from .report import exit_code, print_report, summary_json

if TYPE_CHECKING:
    from ..cluster.start import ClusterSpec
    from ..download.results import RunSummary

__all__ = ["DownloadPlan", "Transport", "execute", "interruptible", "run_failures"]


class Transport(StrEnum):
    """How products are fetched."""

    https = "https"
    s3 = "s3"


@dataclass(frozen=True)
class DownloadPlan:
    """Everything one download run needs (built from the command line or the ledger).

    Attributes:
        items: a result DataFrame, or a list of entity dicts and Id/name strings.
        count: how many items (for the progress display).
        bursts: fetch Sentinel-1 bursts on demand instead of products.
        transport: ``https`` (zips) or ``s3`` (SAFE folders); products only.
        transport_asked: the user chose ``transport`` (else it is the command's default).
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
    transport_asked: bool = True
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


# The command fetches zips unless told otherwise, S3 keys or not: its output's shape
# (zips, or SAFE folders) stays what the command line says.
_DEFAULT_TRANSPORT = "HTTPS with the CDSE account, the default; --transport s3 for SAFE folders"


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
        why = chosen.reason if plan.transport_asked else _DEFAULT_TRANSPORT
        return _Access(credentials=Credentials.from_env(totp=plan.totp), why=why)
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
            limits = plan.limits
            window = sum(limits.for_account(a.connections).workers for a in plan.accounts)
            window = window or limits.workers
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
def run_failures() -> Iterator[None]:
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
    with run_failures(), _display(plan, progress, console):
        summary = anyio.run(interruptible, _download, plan, endpoints, access, sink)
    if summary is None:  # with --json, stdout keeps to JSON
        return _interrupted(stderr() if plan.as_json else console, plan)
    if plan.as_json:
        print(summary_json(summary), file=console.file, flush=True)
        return exit_code(summary)
    return print_report(console, summary, command_line())
