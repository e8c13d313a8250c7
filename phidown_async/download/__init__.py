"""Download products: plan, fetch (resumable, verified), record; the async public API.

Example:
    summary = await download_products(df, "data/")
    for failure in summary.failures:
        print(failure.name, failure.reason)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..config import Credentials, Endpoints, Limits
from ..errors import NotFoundError, ServiceError
from ..events import EventSink, discard
from ..retry import RetryPolicy
from ..session import Session
from .plan import Job, Selection, plan_jobs, select
from .pool import ProgressReport, TransferFn, run_pool
from .results import ItemResult, RunSummary
from .run import LEDGER_NAME, announce_rejected, open_ledger, open_session
from .transfer import HttpTransfer

# Catalogue look-ups of bare Ids/names run this many at a time (the budget still applies).
_RESOLVERS = 4

__all__ = [
    "LEDGER_NAME",
    "HttpTransfer",
    "ItemResult",
    "Job",
    "ProgressReport",
    "RunSummary",
    "TransferFn",
    "download_products",
    "plan_jobs",
    "resolve",
    "run_pool",
    "select",
]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def _lookup(session: Session, ref: str, by_id: bool) -> dict[str, Any] | str:
    """The entity for an Id or a name, or the reason it could not be found."""
    base = session.endpoints.catalogue_url
    try:
        if by_id:
            entity = await session.get_json(f"{base}/Products({ref})")
            return entity if entity.get("Id") else f"no product with Id {ref} in the catalogue"
        page = await session.get_json(
            f"{base}/Products", {"$filter": f"Name eq {_literal(ref)}", "$top": "1"}
        )
    except NotFoundError:
        return f"no product with Id {ref} in the catalogue"
    except ServiceError as exc:
        return f"catalogue look-up failed: {exc}"
    found = page.get("value") or []
    if not found or not isinstance(found[0], dict):
        return f"no product named {ref!r} in the catalogue"
    return found[0]


async def resolve(
    session: Session, selection: Selection
) -> tuple[list[dict[str, Any]], list[ItemResult]]:
    """Catalogue entities for a selection's bare Ids and names.

    Returns:
        The entities (given ones first, then looked-up ones in input order) and a failed
        result for every reference the catalogue does not know.
    """
    refs = [(ref, True) for ref in selection.ids] + [(ref, False) for ref in selection.names]
    found: dict[int, dict[str, Any] | str] = {}
    send, receive = anyio.create_memory_object_stream[tuple[int, str, bool]](_RESOLVERS)

    async def produce() -> None:
        async with send:
            for index, (ref, by_id) in enumerate(refs):
                await send.send((index, ref, by_id))

    async def work(inbox: Any) -> None:
        async with inbox:
            async for index, ref, by_id in inbox:
                found[index] = await _lookup(session, ref, by_id)

    async with anyio.create_task_group() as group, receive:
        group.start_soon(produce)
        for _ in range(min(_RESOLVERS, len(refs))):
            group.start_soon(work, receive.clone())
    entities = list(selection.entities)
    failures: list[ItemResult] = []
    for index, (ref, _) in enumerate(refs):
        outcome = found[index]
        if isinstance(outcome, dict):
            entities.append(outcome)
        else:
            failures.append(ItemResult(ref, ref, "failed", reason=outcome))
    return entities, failures


async def download_products(
    items: Any,
    output_dir: str | Path,
    *,
    session: Session | None = None,
    endpoints: Endpoints | None = None,
    credentials: Credentials | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen value
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
    ledger_path: str | Path | None = None,
    verify: bool = True,
    extract: bool = False,
    sink: EventSink = discard,
) -> RunSummary:
    """Download products into ``output_dir``: resumable, verified, recorded in a ledger.

    Each product lands as ``<output_dir>/<Name>.zip`` only once its size, checksums, zip
    and ``manifest.safe`` check out. Interrupted downloads resume from their ``.part``
    file; products already downloaded (per the ledger, file still there) are skipped.

    Args:
        items: a search DataFrame, a list of entity dicts, or product Ids / names (those
            are looked up in the catalogue first).
        output_dir: the folder for the files (created when missing).
        session: a session to reuse; by default one is opened (and closed) for the call
            with ``endpoints``, ``credentials``, ``limits``, ``retry`` and ``sink``.
        endpoints: CDSE URLs (default: from the environment).
        credentials: the account (default: ``CDSE_USERNAME``/``CDSE_PASSWORD`` or .netrc).
        limits: workers, connections, chunk size, timeout (a given session's own limits
            take precedence).
        retry: how often and how patiently to retry.
        ledger_path: the SQLite ledger (default ``<output_dir>/.phidown_ledger.sqlite``).
        verify: check zip integrity and ``manifest.safe`` too (size and checksums always).
        extract: unpack each verified zip next to it.
        sink: receives progress events.

    Returns:
        Every item's outcome and counts; failures are results with a reason, not errors.

    Raises:
        CredentialsError: no session, no credentials given and none in the environment.
        AuthError: CDSE refused the account; nothing more could succeed.
        TypeError, ValueError: ``items`` has entries that are not products.
    """
    started = anyio.current_time()
    selection = select(items)
    out = Path(output_dir)
    await anyio.to_thread.run_sync(lambda: out.mkdir(parents=True, exist_ok=True))
    if session is not None and sink is discard:
        sink = session.sink
    async with contextlib.AsyncExitStack() as stack:
        session = open_session(stack, session, endpoints, credentials, limits, retry, sink)
        entities, unresolved = await resolve(session, selection)
        announce_rejected(sink, unresolved)
        jobs = plan_jobs(entities, out, catalogue_url=session.endpoints.catalogue_url)
        transfer = HttpTransfer(session, verify=verify, extract=extract, sink=sink)
        ledger = await open_ledger(stack, ledger_path, out)
        summary = await run_pool(
            jobs, transfer, ledger=ledger, workers=session.limits.workers, sink=sink
        )
    results: Sequence[ItemResult] = (*unresolved, *summary.results)
    return RunSummary(tuple(results), seconds=anyio.current_time() - started)
