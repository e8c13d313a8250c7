"""Sentinel-1 bursts on demand: ``POST Bursts(<Id>)/$value``, saved under the server's name.

CDSE cuts a burst out of its parent SLC while the client waits, then answers 200 with a zip
named by ``Content-Disposition``. This module sends that POST with the run's token, follows
redirects itself by POSTing again (httpx would turn a 301/302 POST into a GET), streams the
zip into ``<output_dir>/<burst Id>.zip.part`` (resuming with ``Range`` when the server honours
it), checks the zip (CRCs, and the SAFE's ``manifest.safe`` where it lists files) and only then
gives it its final name.

File names come from the server and are never trusted: they are sanitised
(`names.safe_filename`), and a name already taken by another burst of the run, or by a file
on disk with other bytes, gets the burst Id appended, so no burst overwrites another.

Bulk downloads go through the shared worker pool and ledger (`pool.run_pool`), so they are
deduplicated, resumable after a crash and bounded by the one connection budget.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import anyio.to_thread
import httpx

from ..config import Credentials, Endpoints, Limits
from ..errors import AuthError, ServiceError, VerificationError
from ..events import EventSink, discard
from ..retry import RetryPolicy
from ..session import Session
from .archive import verify_zip_async
from .checksums import StreamHasher, hash_file
from .names import parse_content_disposition, safe_filename
from .parts import (
    PartState,
    PartTransfer,
    Refused,
    announce,
    body_batches,
    first_batch,
    placement,
    resume_headers,
)
from .plan import Job, is_missing, to_records
from .pool import ProgressReport
from .results import ItemResult, RunSummary
from .run import LEDGER_NAME as LEDGER_NAME
from .run import announce_rejected, open_ledger, open_session, run_in_order
from .run import merge_results as merge_results

PART_SUFFIX = ".zip.part"
META_SUFFIX = ".json"
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
    items: Any, output_dir: str | Path, *, catalogue_url: str
) -> tuple[list[tuple[int, Job]], list[tuple[int, ItemResult]]]:
    """Jobs for burst search results, entity dicts or burst Ids, one per distinct Id.

    Args:
        items: a DataFrame from a burst search, entity dicts (``Id``, ``Name``), or Id strings.
        output_dir: where the zips land.
        catalogue_url: base of ``Bursts(<Id>)/$value``.

    Returns:
        ``(jobs, rejected)``, each paired with its position in ``items``; rejected items
        (no Id, or an Id that is not a UUID) are failed results, as phidown reports them.

    Raises:
        TypeError: an item is neither a dict nor a string.
    """
    jobs: list[tuple[int, Job]] = []
    rejected: list[tuple[int, ItemResult]] = []
    seen: set[str] = set()
    for index, record in enumerate(to_records(items)):
        if isinstance(record, str):
            raw, name = record, None
        elif isinstance(record, Mapping):
            raw, name = record.get("Id"), record.get("Name")
        else:
            raise TypeError(f"cannot download {type(record).__name__!r} items as bursts")
        if is_missing(raw):
            label = "" if is_missing(name) else str(name)
            rejected.append((index, ItemResult("", label, "failed", reason="No burst ID found")))
            continue
        burst_id = str(raw).strip()
        label = burst_id if is_missing(name) else str(name).strip()
        if not _UUID.match(burst_id):
            rejected.append(
                (
                    index,
                    ItemResult(burst_id, label, "failed", reason="Burst ID is not a valid UUID"),
                )
            )
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


def _link_into_place(part: Path, target: Path) -> bool:
    """Give ``part`` the name ``target`` unless that exists; True when done.

    A hard link fails atomically when the name exists, so another process cannot be
    overwritten between the check and the rename; without hard links, check then rename.
    """
    try:
        os.link(part, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if target.exists():
            return False
        os.replace(part, target)
        return True
    part.unlink()
    return True


# -- part files -----------------------------------------------------------------------------


@dataclass
class _Meta:
    """What is known about a part file's bytes (kept next to it across runs)."""

    etag: str | None = None
    filename: str | None = None


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + META_SUFFIX)


def _inspect(part: Path) -> tuple[int, _Meta]:
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0, _Meta()
    try:
        data = json.loads(_meta_path(part).read_text(encoding="utf-8"))
        meta = _Meta(data.get("etag"), data.get("filename"))
    except (OSError, ValueError, AttributeError):
        meta = _Meta()
    return size, meta


def _save_meta(part: Path, meta: _Meta) -> None:
    path = _meta_path(part)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"etag": meta.etag, "filename": meta.filename}), encoding="utf-8")
    os.replace(tmp, path)


def _discard_part(part: Path) -> None:
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


# -- one burst ------------------------------------------------------------------------------


@dataclass
class _State(PartState):
    """What one burst's tries share: the part-file state and what is known of its bytes."""

    meta: _Meta | None = None


def _unexpected(response: httpx.Response) -> Refused:
    return Refused(f"unexpected {response.status_code} answer to the burst request")


class BurstTransfer(PartTransfer[_State]):
    """Fetches one burst `Job` (see `burst_job`), verifies its zip and names it.

    Args:
        session: the run's session (client with the token, budget, retry policy).
        names: the run's claimed file names (shared by every burst of the run).
        sink: receives ItemStarted, BytesReceived and RetryScheduled events.

    Calling it returns an `ItemResult`; per-burst failures are results. It raises only
    `AuthError` (the account or its token is refused) and cancellation.
    """

    taken_over = "another process took this burst over"

    def __init__(
        self, session: Session, *, names: FileNames | None = None, sink: EventSink | None = None
    ) -> None:
        super().__init__(session, sink)
        self.names = names or FileNames()

    async def __call__(self, job: Job, report: ProgressReport) -> ItemResult:
        """Download, verify and name one burst; see the class docstring."""
        return await self._tries(job, _State(), report)

    def _auth_failure(
        self, job: Job, state: _State, exc: AuthError, tries: int
    ) -> ItemResult | None:
        if exc.url and not self.session.endpoints.is_trusted(exc.url):
            return self._failed(job, state, _untrusted_reason(exc.url), tries)
        raise exc

    async def _discard(self, job: Job, state: _State) -> None:
        await anyio.to_thread.run_sync(_discard_part, job.part)
        state.hasher, state.meta = None, None

    @asynccontextmanager
    async def _post(self, url: str, headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """POST ``url``, re-POSTing to each redirect's ``Location``; yields the final answer.

        The token rides along only to configured CDSE hosts (the session's transport
        decides per hop).
        """
        current = url
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

    async def _fetch(self, job: Job, state: _State, report: ProgressReport) -> None:
        """One request (with its redirects): bring the part to its full length or raise."""
        offset, meta = await anyio.to_thread.run_sync(_inspect, job.part)
        state.meta = state.meta or meta
        if offset and not state.ranges:
            await anyio.to_thread.run_sync(_discard_part, job.part)
            offset, state.meta = 0, _Meta()
        if offset and offset == state.total:
            return  # whole on disk; _finish checks it
        hasher = await self._hasher_at(job, state, offset)
        headers = resume_headers(offset, state.meta.etag)
        try:
            async with self._post(job.url, headers) as response:
                await self._receive(job, state, response, offset, hasher, report)
        except ServiceError as exc:
            if exc.status == 416 and offset:
                # Range refused: the part may be whole already (a run stopped before
                # renaming it); _finish checks it, and a part that fails is started over
                # without Range.
                state.ranges = False
                return
            raise

    async def _receive(
        self,
        job: Job,
        state: _State,
        response: httpx.Response,
        offset: int,
        hasher: StreamHasher,
        report: ProgressReport,
    ) -> None:
        start, total = placement(response, offset, _unexpected)
        state.total = total
        meta = state.meta or _Meta()
        sent_name = parse_content_disposition(response.headers.get("Content-Disposition"))
        if start == 0:
            meta = _Meta(response.headers.get("ETag"), sent_name)
        elif sent_name:
            meta.filename = sent_name
        state.meta = meta
        await anyio.to_thread.run_sync(_save_meta, job.part, meta)
        announce(state, self.sink, job, total, start)
        body = body_batches(response, self.chunk_size)
        first = await first_batch(response, body) if start == 0 else None
        await self._stream_into_part(
            job, state, hasher, body, start=start, total=total, report=report, first=first
        )

    async def _finish(self, job: Job, state: _State, tries: int) -> ItemResult:
        size = (await anyio.to_thread.run_sync(_inspect, job.part))[0]
        if state.total is not None and size != state.total:
            raise VerificationError(
                f"{job.id}: size mismatch: the server announced {state.total} bytes, got {size}"
            )
        hasher = await self._hasher_at(job, state, size)
        # Burst manifests have emptied checksums: the zip's CRCs and the listed files are
        # what can be checked.
        await verify_zip_async(job.part, check_manifest=True, subject=f"burst {job.id}")
        md5 = hasher.hexdigests()["MD5"]
        server_name = state.meta.filename if state.meta else None
        target = await self._place(job, server_name, size, md5)
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

    async def _place(self, job: Job, server_name: str | None, size: int, md5: str) -> Path:
        """Rename the verified part to the first free name (or one holding the same bytes)."""
        folder = job.part.parent
        for name in name_candidates(server_name, job.id):
            if not self.names.claim(name, job.id):
                continue  # another burst of this run has it
            target = folder / name
            if await anyio.to_thread.run_sync(_link_into_place, job.part, target):
                await anyio.to_thread.run_sync(_discard_part, job.part)
                return target
            if await anyio.to_thread.run_sync(_same_file, target, size, md5):
                await anyio.to_thread.run_sync(_discard_part, job.part)
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
    limits: Limits = Limits(),  # noqa: B008 - frozen value
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
    ledger_path: str | Path | None = None,
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
        limits: connections, workers (bursts in flight), chunk size, timeout (a given
            session's own limits take precedence).
        retry: the per-burst retry policy; ignored with ``session``.
        ledger_path: the SQLite ledger (default ``<output_dir>/.phidown_ledger.sqlite``).
        sink: receives progress, retry and outcome events.

    Returns:
        Every item's outcome in input order (items without a valid Id are failed results);
        a downloaded result's ``path`` is the zip under the server's (sanitised) name.

    Raises:
        CredentialsError: no session, no credentials given and none in the environment.
        AuthError: the account or its token is refused.
        TypeError: an item is neither a dict nor a string.

    Example:
        summary = await download_bursts(frame, "bursts/")
        print(summary.downloaded, [f.reason for f in summary.failures])
    """
    out = Path(output_dir).absolute()
    await anyio.to_thread.run_sync(lambda: out.mkdir(parents=True, exist_ok=True))
    async with contextlib.AsyncExitStack() as stack:
        session = open_session(stack, session, endpoints, credentials, limits, retry, sink)
        planned, rejected = plan_bursts(items, out, catalogue_url=session.endpoints.catalogue_url)
        announce_rejected(sink, (result for _, result in rejected))
        ledger = await open_ledger(stack, ledger_path, out)
        transfer = BurstTransfer(session, sink=sink)
        return await run_in_order(
            planned, rejected, transfer, ledger=ledger, workers=session.limits.workers, sink=sink
        )
