"""What every bulk download shares around its pool: the session (or one per account, in an
`AccountPool`), the ledger, the results.

`download_products`, `download_bursts` and `download_products_s3` each open what they were
not given on one `contextlib.AsyncExitStack`, so the ledger and the sessions of their own
are closed (in that order) however the run ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from ..account_list import Account, check_accounts
from ..config import Credentials, Endpoints, Limits
from ..errors import ConfigError
from ..events import EventSink, ItemFailed
from ..ledger import Ledger
from ..retry import RetryPolicy
from ..session import Session
from .dispatch import AccountPool
from .plan import Job
from .pool import DoneCheck, TransferFn, run_pool
from .results import ItemResult, RunSummary

LEDGER_NAME = ".phidown_ledger.sqlite"


async def _close(session: Session) -> None:
    # Shielded: a cancelled run still closes its connections.
    with anyio.CancelScope(shield=True):
        await session.aclose()


def open_session(
    stack: contextlib.AsyncExitStack,
    session: Session | None,
    endpoints: Endpoints | None,
    credentials: Credentials | None,
    limits: Limits,
    retry: RetryPolicy,
    sink: EventSink,
    *,
    account: bool = True,
) -> Session:
    """``session`` itself, or a new one that ``stack`` closes.

    Args:
        endpoints: default `Endpoints.from_env`.
        credentials: the account; with ``account``, default `Credentials.from_env`.
        limits, retry, sink: the new session's.
        account: the new session logs in to CDSE (False for S3, which needs only keys).

    Raises:
        CredentialsError: an account is needed and none was given or found.
    """
    if session is not None:
        return session
    endpoints = endpoints or Endpoints.from_env()
    if account:
        credentials = credentials or Credentials.from_env()
    opened = Session(endpoints, credentials, limits=limits, retry=retry, sink=sink)
    stack.push_async_callback(_close, opened)
    return opened


def open_accounts(
    stack: contextlib.AsyncExitStack,
    accounts: Sequence[Account],
    endpoints: Endpoints | None,
    limits: Limits,
    retry: RetryPolicy,
    sink: EventSink,
) -> AccountPool:
    """One session per account (closed by ``stack``), in an `AccountPool`.

    Each session's budget is its account's ``connections``, with as many spare workers as
    ``limits`` has over its own connections; the rest of ``limits`` is shared. Sessions
    share the process's login of their account (``share_login``).

    Raises:
        ConfigError: no account, or two with one name.
    """
    endpoints = endpoints or Endpoints.from_env()
    sessions: dict[str, Session] = {}
    for account in check_accounts(accounts):
        own = limits.for_account(account.connections)
        session = Session(
            endpoints, account.credentials, limits=own, retry=retry, sink=sink, share_login=True
        )
        stack.push_async_callback(_close, session)
        sessions[account.name] = session
    return AccountPool(sessions)


def open_pool(
    stack: contextlib.AsyncExitStack,
    session: Session | None,
    accounts: Sequence[Account],
    endpoints: Endpoints | None,
    credentials: Credentials | None,
    limits: Limits,
    retry: RetryPolicy,
    sink: EventSink,
) -> AccountPool:
    """The run's accounts: one per entry of ``accounts``, else ``session`` or a new one
    (see `open_session`); new sessions are closed by ``stack``.

    Raises:
        ConfigError: ``accounts`` with ``session`` or ``credentials``, or invalid accounts.
        CredentialsError: no account given or found.
    """
    if not accounts:
        one = open_session(stack, session, endpoints, credentials, limits, retry, sink)
        return AccountPool({"": one})
    if session is not None or credentials is not None:
        raise ConfigError("give accounts, or a session or credentials, not both")
    return open_accounts(stack, accounts, endpoints, limits, retry, sink)


async def open_ledger(
    stack: contextlib.AsyncExitStack, ledger_path: str | Path | None, out: Path
) -> Ledger:
    """The run's ledger (default ``<out>/.phidown_ledger.sqlite``), closed by ``stack``."""
    path = Path(ledger_path) if ledger_path else out / LEDGER_NAME
    ledger = await anyio.to_thread.run_sync(Ledger, path)
    stack.push_async_callback(anyio.to_thread.run_sync, ledger.close)
    return ledger


def announce_rejected(sink: EventSink, results: Iterable[ItemResult]) -> None:
    """An ItemFailed event for each item refused before the run (it never becomes a job)."""
    for result in results:
        sink(ItemFailed(item=result.id, reason=result.reason or "failed", attempts=0))


def merge_results(
    ran: list[int], summary: RunSummary, rejected: list[tuple[int, ItemResult]]
) -> RunSummary:
    """One summary, in input order, of the pool's results and the items refused up front.

    Args:
        ran: the input position of each job given to the pool, in the pool's order.
        summary: what the pool returned.
        rejected: (input position, failed result) of items that never became jobs.
    """
    placed = list(zip(ran, summary.results, strict=True)) + rejected
    placed.sort(key=lambda pair: pair[0])
    return RunSummary(tuple(result for _, result in placed), summary.seconds)


async def run_in_order(
    planned: list[tuple[int, Job]],
    rejected: list[tuple[int, ItemResult]],
    transfer: TransferFn,
    *,
    stack: contextlib.AsyncExitStack,
    ledger_path: str | Path | None,
    out: Path,
    workers: int,
    sink: EventSink,
    settled: DoneCheck | None = None,
    wait: bool = True,
) -> RunSummary:
    """Tell the refused items, open the ledger (on ``stack``), run the planned jobs through
    the pool; every item's outcome in input order.

    Args:
        planned, rejected: (input position, job / failed result), as the planners return.
        ledger_path, out: see `open_ledger`.
        settled: see `run_pool`.
        wait: wait for the items another process holds (see `run_pool`).
    """
    announce_rejected(sink, (result for _, result in rejected))
    ledger = await open_ledger(stack, ledger_path, out)
    summary = await run_pool(
        [job for _, job in planned],
        transfer,
        ledger=ledger,
        workers=workers,
        sink=sink,
        settled=settled,
        wait=wait,
    )
    return merge_results([index for index, _ in planned], summary, rejected)
