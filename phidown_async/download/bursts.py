"""Sentinel-1 bursts on demand: ``POST Bursts(<Id>)/$value``, saved under the server's name.

CDSE cuts a burst out of its parent SLC while the client waits, then answers 200 with a zip
named by ``Content-Disposition``. This module sends that POST with the run's token, follows
redirects itself by POSTing again (httpx would turn a 301/302 POST into a GET), streams the
zip into ``<output_dir>/<burst Id>.zip.part`` (resuming with ``Range`` when the server honours
it; see `parts.PartTransfer`), checks the zip (CRCs, and the SAFE's ``manifest.safe`` where it
lists files) and only then gives it its final name.

File names come from the server and are never trusted: they are sanitised
(`names.safe_filename`), and a name already taken by another burst of the run, or by a file
on disk with other bytes, gets the burst Id appended, so no burst overwrites another.

Bulk downloads go through the shared worker pool and ledger (`pool.run_pool`), so they are
deduplicated, resumable after a crash and bounded by the one connection budget.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import anyio.to_thread
import httpx

from ..account_list import Account
from ..config import Credentials, Endpoints, Limits
from ..errors import AuthError
from ..events import EventSink, discard
from ..retry import RetryPolicy
from ..session import Session
from .archive import verify_zip_async
from .checksums import compare_size, hash_file
from .intake import Intake, is_missing, take_in
from .names import parse_content_disposition, safe_filename
from .partfile import PartFile
from .parts import PartState, PartTransfer
from .plan import Job
from .pool import ProgressReport
from .results import ItemResult, RunSummary
from .run import open_pool, run_in_order
from .tries import Refused

PART_SUFFIX = ".zip.part"
MAX_REDIRECTS = 5
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Other names tried when the server's name is taken: <stem>-<Id>.zip, then numbered.
_MAX_NAME_CANDIDATES = 10


# -- planning -------------------------------------------------------------------------------


def burst_job(burst_id: str, name: str, output_dir: str | Path, *, catalogue_url: str) -> Job:
    """The job of one burst: POST to ``Bursts(<Id>)/$value``, bytes into ``<Id>.zip.part``.

    ``target`` is only the fallback name (``<Id>.zip``): the server's file name, known when
    the answer arrives, replaces it.
    """
    out = Path(output_dir)
    fallback = out / f"{burst_id}.zip"
    return Job(
        id=burst_id,
        name=name,
        kind="burst",
        url=f"{catalogue_url.rstrip('/')}/Bursts({quote(burst_id, safe='-')})/$value",
        target=fallback,
        part=out / f"{burst_id}{PART_SUFFIX}",
        method="POST",
    )


def plan_bursts(
    intake: Intake, output_dir: str | Path, *, catalogue_url: str
) -> tuple[list[tuple[int, Job]], list[tuple[int, ItemResult]]]:
    """Jobs for the records of an intake, one per distinct Id, with input positions.

    Returns:
        ``(jobs, rejected)``; a record without an Id, or with one that is not a UUID, is a
        failed result, as phidown reports it (after those the intake already rejected).
    """
    jobs: list[tuple[int, Job]] = []
    rejected = list(intake.rejected)
    seen: set[str] = set()
    for index, record in intake.records:
        raw, name = record.get("Id"), record.get("Name")
        if is_missing(raw):
            label = "" if is_missing(name) else str(name)
            rejected.append(
                (index, ItemResult("", label, "failed", reason="No burst ID found", permanent=True))
            )
            continue
        burst_id = str(raw).strip()
        label = burst_id if is_missing(name) else str(name).strip()
        if not _UUID.match(burst_id):
            reason = "Burst ID is not a valid UUID"
            result = ItemResult(burst_id, label, "failed", reason=reason, permanent=True)
            rejected.append((index, result))
            continue
        if burst_id.lower() in seen:
            continue
        seen.add(burst_id.lower())
        jobs.append((index, burst_job(burst_id, label, output_dir, catalogue_url=catalogue_url)))
    return jobs, rejected


# -- file names -----------------------------------------------------------------------------


class FileNames:
    """Final names claimed by the bursts of one run, so that no two share a file."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def claim(self, name: str, burst_id: str) -> bool:
        """Reserve ``name`` for ``burst_id``; False when another burst holds it."""
        key = name.lower()  # case-insensitive file systems would merge them
        holder = self._owners.setdefault(key, burst_id)
        return holder == burst_id

    def release(self, name: str, burst_id: str) -> None:
        """Give ``name`` back if ``burst_id`` holds it."""
        if self._owners.get(name.lower()) == burst_id:
            del self._owners[name.lower()]


def _zip_name(name: str) -> str:
    return name if name.lower().endswith(".zip") else f"{name}.zip"


def name_candidates(server_name: str | None, burst_id: str) -> list[str]:
    """File names to try for a burst, best first, all safe to join to the output folder.

    The server's name (sanitised, ``.zip`` enforced; ``<Id>.zip`` when it sent none), then
    ``<stem>-<Id>.zip``, then numbered variants.
    """
    first = _zip_name(safe_filename(server_name, f"{burst_id}.zip"))
    stem = first[:-4]
    tail = f"-{burst_id}"
    # Keep the Id whole: shorten the stem so the name stays within 255 bytes.
    room = 255 - len(tail.encode()) - len(".zip") - 4
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    names = [first, f"{stem}{tail}.zip"]
    names += [f"{stem}{tail}-{n}.zip" for n in range(2, _MAX_NAME_CANDIDATES)]
    return [safe_filename(n, f"{burst_id}.zip") for n in dict.fromkeys(names)]


def _same_file(path: Path, size: int, md5: str) -> bool:
    try:
        if path.stat().st_size != size:
            return False
        return hash_file(path, ["MD5"])["MD5"] == md5
    except OSError:
        return False


# -- one burst ------------------------------------------------------------------------------


@dataclass
class _State(PartState):
    """What one burst's tries share: the part-file state and the server's file name."""

    filename: str | None = None


class BurstTransfer(PartTransfer[_State]):
    """Fetches one burst `Job` (see `burst_job`), verifies its zip and names it.

    Args:
        session: the run's session (client with the token, budget, retry policy).
        names: the run's claimed file names (shared by every burst of the run).
        sink: receives ItemStarted, BytesReceived and RetryScheduled events.

    Calling it returns an `ItemResult`; per-burst failures are results. It raises only
    `AuthError` (the account or its token is refused) and cancellation.
    """

    what = "burst request"
    taken_over = "another process took this burst over"

    def __init__(
        self, session: Session, *, names: FileNames | None = None, sink: EventSink | None = None
    ) -> None:
        super().__init__(session, sink)
        self.names = names or FileNames()

    async def __call__(self, job: Job, report: ProgressReport) -> ItemResult:
        """Download, verify and name one burst; see the class docstring."""
        return await self._tries(job, _State(), report)

    def _auth_failure(self, job: Job, exc: AuthError) -> None:
        if exc.url and not self.session.endpoints.is_trusted(exc.url):
            raise Refused(_untrusted_reason(exc.url)) from exc
        raise exc

    async def _discard(self, job: Job, state: _State) -> None:
        await super()._discard(job, state)
        state.filename = None

    def _record(self, response: httpx.Response, state: _State, start: int) -> dict[str, Any]:
        sent = parse_content_disposition(response.headers.get("Content-Disposition"))
        if start == 0 or sent:
            state.filename = sent
        return {"filename": state.filename}

    def _restore(self, state: _State, record: dict[str, Any]) -> None:
        state.filename = record.get("filename")

    @asynccontextmanager
    async def _request(self, job: Job, headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """POST the burst's URL, re-POSTing to each redirect's ``Location``; yields the final
        answer. The token rides along only to configured CDSE hosts (the session's
        transport decides per hop)."""
        current = job.url
        for _ in range(MAX_REDIRECTS + 1):
            async with self.session.stream(
                "POST", current, headers, follow_redirects=False
            ) as response:
                if response.status_code not in _REDIRECTS:
                    yield response
                    return
                location = response.headers.get("Location")
                if not location:
                    raise Refused(f"redirect {response.status_code} without a Location")
                current = str(response.url.join(location))
        raise Refused(f"more than {MAX_REDIRECTS} redirects for the burst request")

    async def _finish(self, job: Job, state: _State, tries: int) -> ItemResult:
        part = PartFile(job.part)
        size = await anyio.to_thread.run_sync(part.size)
        compare_size(state.total, size, name=f"burst {job.id}", source="the server announced")
        hasher = await self._hasher_at(job, state, size)
        # Burst manifests have emptied checksums: the zip's CRCs and the listed files are
        # what can be checked.
        await verify_zip_async(job.part, check_manifest=True, subject=f"burst {job.id}")
        md5 = hasher.hexdigests()["MD5"]
        target = await self._place(job, part, state.filename, size, md5)
        return ItemResult(
            job.id,
            job.name,
            "downloaded",
            path=target,
            attempts=tries,
            bytes=state.received,
            size=size,
            checksum=f"md5:{md5}",
        )

    async def _place(
        self, job: Job, part: PartFile, server_name: str | None, size: int, md5: str
    ) -> Path:
        """Rename the verified part to the first free name (or one holding the same bytes)."""
        folder = job.part.parent
        for name in name_candidates(server_name, job.id):
            if not self.names.claim(name, job.id):
                continue  # another burst of this run has it
            target = folder / name
            if await anyio.to_thread.run_sync(part.install_new, target):
                return target
            if await anyio.to_thread.run_sync(_same_file, target, size, md5):
                await anyio.to_thread.run_sync(part.discard)
                return target  # this burst, saved before (e.g. by an earlier run)
            self.names.release(name, job.id)
        raise Refused(f"no free file name for burst {job.id} (tried {_MAX_NAME_CANDIDATES})")


def _untrusted_reason(url: str) -> str:
    origin = httpx.URL(url)
    return (
        f"redirected to {origin.scheme}://{origin.netloc.decode()}, which asks for "
        "authentication; the token is only sent to the configured CDSE hosts"
    )


# -- bulk -----------------------------------------------------------------------------------


async def download_bursts(
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
    sink: EventSink = discard,
) -> RunSummary:
    """Download Sentinel-1 bursts on demand, concurrently within the connection budget.

    Args:
        items: a DataFrame from a burst search, burst entity dicts, or burst Ids.
        output_dir: where the zips are saved (created when missing).
        session: a session to share (its endpoints, token, budget and policy are used);
            by default one is opened for this call.
        endpoints: where requests go (default: `Endpoints.from_env`); ignored with ``session``.
        credentials: the account (default: `Credentials.from_env`); ignored with ``session``.
        accounts: several accounts instead, each burst on whichever has a free connection
            (see `download_products`).
        limits: connections, workers (bursts in flight), chunk size, timeout (a given
            session's own limits take precedence).
        retry: the per-burst retry policy; ignored with ``session``.
        ledger_path: the SQLite ledger (default ``<output_dir>/.phidown_ledger.sqlite``).
        wait: wait for items another process holds (two runs on one folder) until it
            finishes or lets go of them; False skips them.
        sink: receives progress, retry and outcome events.

    Returns:
        Every item's outcome in input order (items without a valid Id are failed results);
        a downloaded result's ``path`` is the zip under the server's (sanitised) name.

    Raises:
        CredentialsError: no session, no credentials given and none in the environment.
        DiskFullError: no space left; the run stopped and kept every partial file.
        AuthError: the account or its token is refused.
        TypeError: an item is neither a dict nor a string.

    Example:
        summary = await download_bursts(frame, "bursts/")
        reasons = [failure.reason for failure in summary.failures]
    """
    out = Path(output_dir).absolute()
    await anyio.to_thread.run_sync(lambda: out.mkdir(parents=True, exist_ok=True))
    async with contextlib.AsyncExitStack() as stack:
        pool = open_pool(stack, session, accounts, endpoints, credentials, limits, retry, sink)
        intake = await take_in(items, "burst", pool.first)
        catalogue_url = pool.first.endpoints.catalogue_url
        planned, rejected = plan_bursts(intake, out, catalogue_url=catalogue_url)
        transfers = {name: BurstTransfer(own, sink=sink) for name, own in pool.sessions.items()}
        return await run_in_order(
            planned,
            rejected,
            pool.dispatch(transfers),
            stack=stack,
            ledger_path=ledger_path,
            out=out,
            workers=pool.workers,
            sink=sink,
            wait=wait,
        )
