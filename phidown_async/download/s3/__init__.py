"""SAFE products over CDSE's S3: planned from the catalogue, fetched object by object.

Example:
    keys = S3Keys.find(".s5cfg")
    summary = await download_products_s3(frame, "/data", keys=keys)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ...config import Endpoints, Limits, S3Keys
from ...events import EventSink, discard
from ...retry import RetryPolicy
from ...session import Session
from ..intake import Intake, is_missing, take_in
from ..plan import Job
from ..results import ItemResult, RunSummary
from ..run import open_session, run_in_order
from .client import s3_client
from .objects import s3_endpoint, s3_job
from .transfer import DEFAULT_MULTIPART_THRESHOLD, DEFAULT_PART_SIZE, S3Transfer


def plan_s3(
    intake: Intake, output_dir: str | Path
) -> tuple[list[tuple[int, Job]], list[tuple[int, ItemResult]]]:
    """Jobs for the records of an intake, one per distinct Id, with input positions.

    Returns:
        ``(jobs, rejected)``; a record without a usable ``S3Path`` is a failed result
        (after those the intake already rejected).
    """
    jobs: list[tuple[int, Job]] = []
    rejected = list(intake.rejected)
    seen: set[str] = set()
    for index, record in intake.records:
        name = "" if is_missing(record.get("Name")) else str(record["Name"])
        item_id = "" if is_missing(record.get("Id")) else str(record["Id"])
        try:
            if is_missing(record.get("S3Path")):
                raise ValueError("No S3Path found")
            job = s3_job(record, output_dir)
        except ValueError as exc:
            rejected.append(
                (
                    index,
                    ItemResult(item_id, name or item_id, "failed", reason=str(exc), permanent=True),
                )
            )
            continue
        if job.id not in seen:
            seen.add(job.id)
            jobs.append((index, job))
    return jobs, rejected


async def download_products_s3(
    items: Any,
    output_dir: str | Path,
    *,
    keys: S3Keys | None = None,
    session: Session | None = None,
    endpoints: Endpoints | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen value
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
    ledger_path: str | Path | None = None,
    wait: bool = True,
    sink: EventSink = discard,
    part_size: int = DEFAULT_PART_SIZE,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
) -> RunSummary:
    """Download products as SAFE folders from CDSE's S3, each verified against its manifest.

    Args:
        items: a DataFrame from a search, entity dicts (``Id``, ``Name``, ``S3Path``), or
            product Ids / names (looked up in the catalogue).
        output_dir: where ``<Name>`` folders are created.
        keys: the S3 access keys; by default `S3Keys.find` reads ``./.s5cfg``, else the
            ``CDSE_S3_ACCESS_KEY`` / ``CDSE_S3_SECRET_KEY`` variables, else the
            ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` ones (never prompts).
        session: a session to share (its budget, retry policy and endpoints are used); by
            default one is opened for this call (no CDSE account needed).
        endpoints: default `Endpoints.from_env`; the S3 endpoint is chosen by `s3_endpoint`.
        limits: connections (shared by all requests), workers (products in flight), chunk
            size, timeout (a given session's own limits take precedence).
        retry: the per-request retry policy; ignored with ``session``.
        ledger_path: the SQLite ledger (default ``<output_dir>/.phidown_ledger.sqlite``);
            items are recorded as ``s3:<Id>``.
        wait: wait for items another process holds (two runs on one folder) until it
            finishes or lets go of them; False skips them.
        sink: receives progress, retry and outcome events.
        part_size, multipart_threshold: objects above the threshold come in ranged parts.

    Returns:
        Every item's outcome in input order; a downloaded result's ``path`` is the product
        folder.

    Raises:
        CredentialsError: no keys given and none found.
        DiskFullError: no space left; the run stopped and kept every partial file.
        AuthError: the S3 keys are refused.
        TypeError: an item is neither a dict nor a string.
    """
    keys = keys or S3Keys.require()
    out = Path(output_dir).absolute()
    await anyio.to_thread.run_sync(lambda: out.mkdir(parents=True, exist_ok=True))
    async with contextlib.AsyncExitStack() as stack:
        session = open_session(stack, session, endpoints, None, limits, retry, sink, account=False)
        planned, rejected = plan_s3(await take_in(items, "s3", session), out)
        endpoint = s3_endpoint(session.endpoints, keys)
        client = await stack.enter_async_context(s3_client(endpoint, keys, session.limits))
        transfer = S3Transfer(
            client,
            session.budget,
            retry=session.retry,
            limits=session.limits,
            part_size=part_size,
            multipart_threshold=multipart_threshold,
            sink=sink,
        )
        return await run_in_order(
            planned,
            rejected,
            transfer,
            stack=stack,
            ledger_path=ledger_path,
            out=out,
            workers=session.limits.workers,
            sink=sink,
            wait=wait,
        )
