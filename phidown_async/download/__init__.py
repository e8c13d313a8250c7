"""Download products: plan, fetch (resumable, verified), record; the async public API.

Example:
    summary = await download_products(df, "data/")
    reasons = {failure.name: failure.reason for failure in summary.failures}
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..account_list import Account
from ..config import Credentials, Endpoints, Limits
from ..errors import ConfigError
from ..events import EventSink, discard
from ..extras import needs
from ..retry import RetryPolicy
from ..session import Session
from .dispatch import AccountPool
from .intake import take_in
from .plan import Job, plan_jobs, plan_products
from .pool import ProgressReport, TransferFn, run_pool
from .results import ItemResult, RunSummary
from .run import LEDGER_NAME, open_pool, run_in_order
from .transfer import HttpTransfer

__all__ = [
    "LEDGER_NAME",
    "AccountPool",
    "HttpTransfer",
    "ItemResult",
    "Job",
    "ProgressReport",
    "RunSummary",
    "TransferFn",
    "download_products",
    "plan_jobs",
    "plan_products",
    "run_pool",
]


async def download_products(
    items: Any,
    output_dir: str | Path,
    *,
    session: Session | None = None,
    endpoints: Endpoints | None = None,
    credentials: Credentials | None = None,
    accounts: Sequence[Account] = (),
    limits: Limits = Limits(),  # noqa: B008 - frozen value
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
    ledger_path: str | Path | None = None,
    wait: bool = True,
    verify: bool | str = "default",
    extract: bool = False,
    sink: EventSink = discard,
    cluster: Any = None,
) -> RunSummary:
    """Download products into ``output_dir``: resumable, verified, recorded in a ledger.

    Each product lands as ``<output_dir>/<Name>.zip`` only once its size, checksums, zip
    and ``manifest.safe`` check out (a Name too long for a file name is shortened, with a
    hash of its Id; each result's ``path`` and the ledger's ``path`` column say where).
    Interrupted downloads resume from their ``.part`` file; products already downloaded
    (per the ledger, file still there) are skipped.

    Args:
        items: a search DataFrame, a list of entity dicts, or product Ids / names (those
            are looked up in the catalogue first; see `intake.take_in`).
        output_dir: the folder for the files (created when missing).
        session: a session to reuse; by default one is opened (and closed) for the call
            with ``endpoints``, ``credentials``, ``limits``, ``retry`` and ``sink``.
        endpoints: CDSE URLs (default: from the environment).
        credentials: the account (default: ``CDSE_USERNAME``/``CDSE_PASSWORD`` or .netrc).
        accounts: several accounts instead (see `account_list`): each gets its own
            session (token, connection budget of its ``connections``, 429 adaptation) and
            each item goes to whichever has a free connection; a result (and the ledger)
            names the account that fetched it. Not with ``session`` or ``credentials``.
        limits: workers, connections, chunk size, timeout (a given session's own limits
            take precedence).
        retry: how often and how patiently to retry.
        ledger_path: the SQLite ledger (default ``<output_dir>/.phidown_ledger.sqlite``).
        verify: ``default`` (size, the catalogue's checksum while streaming, the zip's
            directory and ``manifest.safe``'s listing), ``full`` (also every member's CRC
            and listed checksum; automatic without a catalogue checksum) or ``none`` (size
            and checksum only); True and False mean ``default`` and ``none``.
        extract: unpack each verified zip next to it, also those downloaded before; an
            item whose extraction is refused fails (its zip is kept).
        wait: wait for items another process holds (two runs on one folder) until it
            finishes or lets go of them; False skips them.
        sink: receives progress events.
        cluster: an asynchronous ``distributed.Client`` (the ``dask`` extra): items are
            fetched by its workers, each account's connections bounded across the cluster;
            the ledger stays here. Workers read credentials from their own environment
            (``CDSE_USERNAME``/``CDSE_PASSWORD``, .netrc, or each account's variables):
            not with ``session`` or ``credentials``. ``output_dir`` must be a folder every
            worker sees.

    Returns:
        Every item's outcome and counts; failures are results with a reason, not errors.

    Raises:
        CredentialsError: no session, no credentials given and none in the environment.
        ConfigError: ``accounts`` with ``session`` or ``credentials``, or two accounts
            with one name; ``cluster`` with ``session``, ``credentials`` or an account
            given with its credentials in code, or not an asynchronous client.
        MissingExtraError: ``cluster`` without the ``dask`` extra installed.
        DiskFullError: no space left; the run stopped and kept every partial file.
        AuthError: CDSE refused the account; nothing more could succeed.
        TypeError: ``items`` has entries that are neither dicts nor strings.
    """
    out = Path(output_dir).absolute()  # results, events and the ledger name absolute paths
    await anyio.to_thread.run_sync(lambda: out.mkdir(parents=True, exist_ok=True))
    if session is not None and sink is discard:
        sink = session.sink
    async with contextlib.AsyncExitStack() as stack:
        if cluster is not None:
            if session is not None or credentials is not None:
                raise ConfigError(
                    "a cluster's workers read credentials from their own environment; "
                    "give accounts (or none), not a session or credentials"
                )
            with needs("dask", "A pull on a Dask cluster"):
                from ..cluster.client import download_on_cluster
            return await download_on_cluster(
                cluster,
                items,
                out,
                stack=stack,
                accounts=accounts,
                endpoints=endpoints,
                limits=limits,
                retry=retry,
                ledger_path=ledger_path,
                wait=wait,
                verify=verify,
                extract=extract,
                sink=sink,
            )
        pool = open_pool(stack, session, accounts, endpoints, credentials, limits, retry, sink)
        intake = await take_in(items, "product", pool.first)
        catalogue_url = pool.first.endpoints.catalogue_url
        planned, rejected = plan_products(intake, out, catalogue_url=catalogue_url)
        transfers = {
            name: HttpTransfer(own, verify=verify, extract=extract, sink=sink)
            for name, own in pool.sessions.items()
        }
        return await run_in_order(
            planned,
            rejected,
            pool.dispatch(transfers),
            stack=stack,
            ledger_path=ledger_path,
            out=out,
            workers=pool.workers,
            sink=sink,
            settled=next(iter(transfers.values())).unpacked,
            wait=wait,
        )
