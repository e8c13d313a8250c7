"""``phidown-async ledger``: what a download folder's ledger says (a table or JSON), and
retrying its failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..account_list import Account, load_accounts
from ..config import Limits
from ..errors import ConfigError
from ..ledger import STATES, Ledger, LedgerRow
from ..retry import RetryPolicy
from .console import EXIT_INTERRUPTED, EXIT_OK, fail, format_bytes, stdout
from .download import TOTP_OPTION
from .run import DownloadPlan, Transport, execute

S3_PREFIX = "s3:"


def ledger_file(path: Path) -> Path:
    """The ledger file for ``path`` (a ledger, or a folder holding the default one).

    Raises:
        typer.Exit: 2 when there is no ledger there.
    """
    from ..download import LEDGER_NAME

    candidate = path / LEDGER_NAME if path.is_dir() else path
    if not candidate.is_file():
        fail(f"no ledger at {candidate}; downloads write one into their output folder")
    return candidate


def state_table(ledger: Ledger) -> Table:
    """Items and bytes by state."""
    summary = ledger.summary()
    rows = ledger.rows()
    table = Table()
    table.add_column("state")
    table.add_column("items", justify="right")
    table.add_column("bytes", justify="right")
    for state in STATES:
        in_state = [row for row in rows if row.state == state]
        table.add_row(state, str(len(in_state)), format_bytes(sum(r.bytes for r in in_state)))
    table.add_row("total", str(summary.total), format_bytes(summary.bytes), style="bold")
    return table


def accounts_table(rows: list[LedgerRow]) -> Table | None:
    """Items and bytes by the account that fetched them (None when no account is named)."""
    named = sorted({row.account for row in rows if row.account})
    if not named:
        return None
    table = Table(title="Accounts", title_justify="left")
    table.add_column("account")
    table.add_column("done", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("bytes", justify="right")
    for account in named:
        mine = [row for row in rows if row.account == account]
        done = [row for row in mine if row.state == "done"]
        failed = sum(1 for row in mine if row.state == "failed")
        table.add_row(
            account, str(len(done)), str(failed), format_bytes(sum(r.bytes for r in done))
        )
    return table


def _row(row: LedgerRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "state": row.state,
        "attempts": row.attempts,
        "bytes": row.bytes,
        "size": row.size,
        "path": row.path,
        "error": row.error,
        "account": row.account,
    }


def report_json(file: Path, ledger: Ledger) -> str:
    """The ledger as one JSON document: items and bytes by state, totals, the failed items."""
    summary = ledger.summary()
    rows = ledger.rows()
    states = {
        state: {
            "items": sum(1 for row in rows if row.state == state),
            "bytes": sum(row.bytes for row in rows if row.state == state),
        }
        for state in STATES
    }
    return json.dumps(
        {
            "ledger": str(file),
            "states": states,
            "total": {"items": summary.total, "bytes": summary.bytes},
            "failures": [_row(row) for row in rows if row.state == "failed"],
        }
    )


def failures_table(rows: list[LedgerRow]) -> Table:
    """The failed items: name, kind, tries and the recorded reason."""
    table = Table(title="Failures", title_justify="left", title_style="bold red")
    table.add_column("item", overflow="fold")
    table.add_column("kind")
    table.add_column("tries", justify="right")
    table.add_column("reason", overflow="fold")
    for row in rows:
        table.add_row(row.name or row.id, row.kind, str(row.attempts), row.error or "")
    return table


def _retry_plans(
    rows: list[LedgerRow],
    path: Path,
    out_dir: Path,
    limits: Limits,
    retry: RetryPolicy,
    as_json: bool = False,
    totp: str | None = None,
    accounts: tuple[Account, ...] = (),
) -> list[DownloadPlan]:
    """One plan per kind of failed item; Ids are looked up in the catalogue again.
    ``accounts`` share the HTTPS retries (S3 uses keys)."""
    plans = []
    for kind in ("product", "burst", "s3"):
        chosen = [row for row in rows if row.kind == kind]
        if not chosen:
            continue
        ids = [row.id.removeprefix(S3_PREFIX) for row in chosen]
        plans.append(
            DownloadPlan(
                items=ids,
                count=len(ids),
                bursts=kind == "burst",
                transport=Transport.s3.value if kind == "s3" else Transport.https.value,
                out_dir=out_dir,
                ledger=path,
                limits=limits,
                retry=retry,
                names={row.id: row.name for row in chosen if row.name},
                as_json=as_json,
                totp=totp,
                accounts=() if kind == "s3" else accounts,
            )
        )
    return plans


def ledger(
    path: Annotated[
        Path, typer.Argument(help="A ledger file, or the download folder that holds one.")
    ],
    failures: Annotated[
        bool, typer.Option("--failures", help="List every failed item with its reason.")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Download the failed items again.")
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", "-o", help="Where retried items go (default: the ledger's folder)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Items in flight when retrying (default: connections + 2).",
            show_default=False,
        ),
    ] = None,
    connections: Annotated[int, typer.Option(min=1, help="Connections to CDSE when retrying.")] = 4,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the report as JSON (states, totals, every failure); with "
            "--retry-failed, each retry run's summary as one JSON line instead.",
        ),
    ] = False,
    totp: Annotated[str | None, TOTP_OPTION] = None,
    accounts: Annotated[
        Path | None,
        typer.Option(
            "--accounts",
            metavar="FILE",
            help="Retry with several CDSE accounts (the download command's accounts file).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show a download ledger: items and bytes by state, failures, and retry them.

    Exit status with --retry-failed is the download's: 0 all verified, 1 some failed.

    Example:

    phidown-async ledger data/ --failures --retry-failed
    """
    file = ledger_file(path)
    console = stdout()
    try:
        with Ledger(file, readonly=True) as book:
            if as_json and not retry_failed:
                print(report_json(file, book), file=console.file, flush=True)
                return
            if not as_json:
                console.print(f"Ledger {file}", markup=False, soft_wrap=True)
                console.print(state_table(book))
                by_account = accounts_table(book.rows())
                if by_account is not None:
                    console.print(by_account)
            failed = book.rows("failed")
    except ConfigError as exc:
        fail(str(exc))
    if failures and not as_json:
        if failed:
            console.print(failures_table(failed))
        else:
            console.print("No failures.")
    if not retry_failed:
        return
    try:
        listed = load_accounts(accounts) if accounts is not None else ()
    except ConfigError as exc:
        fail(str(exc))
    if not failed:
        if not as_json:
            console.print("Nothing to retry.")
        return
    plans = _retry_plans(
        failed,
        file,
        out_dir if out_dir is not None else file.parent,
        Limits.for_connections(connections, workers),
        RetryPolicy(),
        as_json,
        totp,
        listed,
    )
    code = EXIT_OK
    for plan in plans:
        code = max(code, execute(plan, console))
        if code == EXIT_INTERRUPTED:
            break
    if code:
        raise typer.Exit(code)
