"""Sentinel-1 bursts on demand: ``POST Bursts(<Id>)/$value``, saved under the server's name.

CDSE cuts a burst out of its parent SLC while the client waits, then answers 200 with a zip
named by ``Content-Disposition``. This module sends that POST with the run's token, follows
redirects itself by POSTing again (httpx would turn a 301/302 POST into a GET), streams the
zip into ``<output_dir>/<burst Id>.zip.part`` (resuming with ``Range`` when the server honours
it), checks the zip (CRCs, and the SAFE's ``manifest.safe`` where it lists files) and only then
gives it its final name.

File names come from the server and are never trusted: they are sanitised
(`verify.safe_filename`), and a name already taken by another burst of the run, or by a file
on disk with other bytes, gets the burst Id appended, so no burst overwrites another.

Bulk downloads go through the shared worker pool and ledger (`pool.run_pool`), so they are
deduplicated, resumable after a crash and bounded by the one connection budget.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import anyio
import anyio.to_thread
import httpx

from ..config import Credentials, Endpoints, Limits
from ..errors import AuthError, ServiceError, VerificationError
from ..events import (
    BytesReceived,
    EventSink,
    ItemFailed,
    ItemStarted,
    RetryScheduled,
    discard,
)
from ..ledger import Ledger
from ..retry import RetryableStatusError, RetryPolicy
from ..session import Session, describe
from .plan import Job
from .pool import ItemResult, ProgressReport, RunSummary, run_pool
from .verify import (
    StreamHasher,
    hash_file,
    looks_like_error_page,
    parse_content_disposition,
    safe_filename,
    verify_zip_async,
)

LEDGER_NAME = ".phidown_ledger.sqlite"
PART_SUFFIX = ".zip.part"
META_SUFFIX = ".json"
MAX_REDIRECTS = 5
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Events and ledger reports are batched: one per MiB / 8 MiB (or time), not per read.
_EVENT_BYTES, _EVENT_SECONDS = 1 << 20, 0.5
_REPORT_BYTES, _REPORT_SECONDS = 8 << 20, 5.0
# Throttling (429) does not use up a burst's tries, but caps its total requests.
_MAX_TRIES_FACTOR = 4
# Other names tried when the server's name is taken: <stem>-<Id>.zip, then numbered.
_MAX_NAME_CANDIDATES = 10


# -- planning -------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _records(items: Any) -> list[Any]:
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # a pandas DataFrame
        return list(items.to_dict("records"))
    if isinstance(items, str | Mapping):
        return [items]
    return list(items)


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
    for index, record in enumerate(_records(items)):
        if isinstance(record, str):
            raw, name = record, None
        elif isinstance(record, Mapping):
            raw, name = record.get("Id"), record.get("Name")
        else:
            raise TypeError(f"cannot download {type(record).__name__!r} items as bursts")
        if _missing(raw):
            label = "" if _missing(name) else str(name)
            rejected.append((index, ItemResult("", label, "failed", reason="No burst ID found")))
            continue
        burst_id = str(raw).strip()
        label = burst_id if _missing(name) else str(name).strip()
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


def _open_part(part: Path, append: bool) -> BinaryIO:
    part.parent.mkdir(parents=True, exist_ok=True)
    return open(part, "ab" if append else "wb")  # closed by the caller


def _write(handle: BinaryIO, hasher: StreamHasher, chunk: bytes) -> None:
    handle.write(chunk)
    hasher.update(chunk)


def _strong(etag: str | None) -> str | None:
    # If-Range needs a strong validator; a weak one (W/"...") must not be sent.
    if etag and not etag.strip().upper().startswith("W/"):
        return etag.strip()
    return None


# -- one burst ------------------------------------------------------------------------------


class _Retry(Exception):
    """This try failed in a way another try can fix."""


class _Refused(Exception):
    """This burst cannot be fetched (not retryable, but the run goes on)."""


class _ClaimLost(Exception):
    """Another process took the burst over (our ledger lease ran out)."""


@dataclass
class _State:
    hasher: StreamHasher | None = None
    meta: _Meta | None = None
    total: int | None = None
    ranges: bool = True
    started: bool = False
    received: int = 0


def _placement(response: httpx.Response, offset: int) -> tuple[int, int | None]:
    """(offset the body starts at, total size) of a 200 or 206 answer."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if not match:
            raise _Retry("206 without a usable Content-Range")
        if int(match[1]) != offset:
            raise _Retry(f"asked for bytes from {offset}, the server sent them from {match[1]}")
        return offset, None if match[3] == "*" else int(match[3])
    if response.status_code == 200:
        length = response.headers.get("Content-Length", "")
        return 0, int(length) if length.isdigit() else None
    raise _Refused(f"unexpected {response.status_code} answer to the burst request")


class BurstTransfer:
    """Fetches one burst `Job` (see `burst_job`), verifies its zip and names it.

    Args:
        session: the run's session (client with the token, budget, retry policy).
        names: the run's claimed file names (shared by every burst of the run).
        sink: receives ItemStarted, BytesReceived and RetryScheduled events.

    Calling it returns an `ItemResult`; per-burst failures are results. It raises only
    `AuthError` (the account or its token is refused) and cancellation.
    """

    def __init__(
        self, session: Session, *, names: FileNames | None = None, sink: EventSink | None = None
    ) -> None:
        self.session = session
        self.names = names or FileNames()
        self.sink = sink or session.sink
        self.chunk_size = session.limits.chunk_size

    async def __call__(self, job: Job, report: ProgressReport) -> ItemResult:
        """Download, verify and name one burst; see the class docstring."""
        state = _State()
        policy = self.session.retry
        tries = failures = 0
        while True:
            tries += 1
            before = (await anyio.to_thread.run_sync(_inspect, job.part))[0]
            try:
                await self._fetch(job, state, report)
                return await self._finish(job, state, tries)
            except _ClaimLost:
                return ItemResult(
                    job.id,
                    job.name,
                    "skipped",
                    attempts=tries,
                    reason="another process took this burst over",
                    bytes=state.received,
                )
            except _Refused as exc:
                return self._failed(job, state, str(exc), tries)
            except AuthError as exc:
                if exc.url and not self.session.endpoints.is_trusted(exc.url):
                    return self._failed(job, state, _untrusted_reason(exc.url), tries)
                raise
            except VerificationError as exc:
                # A complete zip that fails its checks is garbage, not a resume point.
                await anyio.to_thread.run_sync(_discard_part, job.part)
                state.hasher, state.meta = None, None
                error: BaseException = exc
                failures += 1
            except (ServiceError, httpx.HTTPError, _Retry, OSError) as exc:
                if not self._retryable(exc):
                    return self._failed(job, state, _reason(exc), tries)
                error = exc
                after = (await anyio.to_thread.run_sync(_inspect, job.part))[0]
                if after > before:
                    failures = 0  # it moved forward: the next try resumes from there
                elif not (isinstance(exc, RetryableStatusError) and exc.status == 429):
                    failures += 1
            if failures >= policy.attempts or tries >= policy.attempts * _MAX_TRIES_FACTOR:
                return self._failed(job, state, _reason(error), tries)
            delay = policy.delay(max(failures, 1), error)
            self.sink(
                RetryScheduled(item=job.id, attempt=tries, delay=delay, reason=_reason(error))
            )
            await anyio.sleep(delay)

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, _Retry):
            return True
        if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
            return False  # the disk, not the network
        return self.session.retry.is_retryable(exc)

    @staticmethod
    def _failed(job: Job, state: _State, reason: str, tries: int) -> ItemResult:
        return ItemResult(
            job.id, job.name, "failed", reason=reason, attempts=tries, bytes=state.received
        )

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
                    raise _Refused(f"redirect {response.status_code} without a Location")
                current = str(response.url.join(location))
        raise _Refused(f"more than {MAX_REDIRECTS} redirects for the burst request")

    async def _hasher_at(self, job: Job, state: _State, offset: int) -> StreamHasher:
        if state.hasher is not None and state.hasher.bytes_hashed == offset:
            return state.hasher
        hasher = StreamHasher(["MD5"])
        if offset and await hasher.prime_async(job.part, limit=offset) != offset:
            raise _Retry("the partial file changed while being read")
        state.hasher = hasher
        return hasher

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
        headers: dict[str, str] = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator := _strong(state.meta.etag):
                headers["If-Range"] = validator
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
        start, total = _placement(response, offset)
        if start == 0 and offset:
            # 200 to a ranged request: the server sent everything again.
            hasher = StreamHasher(["MD5"])
            state.hasher = hasher
        state.total = total
        meta = state.meta or _Meta()
        sent_name = parse_content_disposition(response.headers.get("Content-Disposition"))
        if start == 0:
            meta = _Meta(response.headers.get("ETag"), sent_name)
        elif sent_name:
            meta.filename = sent_name
        state.meta = meta
        await anyio.to_thread.run_sync(_save_meta, job.part, meta)
        if not state.started:
            state.started = True
            self.sink(ItemStarted(item=job.id, name=job.name, total_bytes=total, resume_from=start))
        chunks = response.aiter_bytes(self.chunk_size)
        first = b""
        if start == 0:
            # Look before writing: an error page must not replace a good partial file.
            first = await anext(chunks, b"")
            if looks_like_error_page(first[:512], response.headers.get("Content-Type")):
                text = first[:200].decode("utf-8", "replace")
                snippet = " ".join(re.sub(r"<[^>]*>", " ", text).split())[:120]
                raise _Retry(f"the server sent an error page instead of the zip: {snippet!r}")
        handle = await anyio.to_thread.run_sync(_open_part, job.part, bool(start))
        written = unsent = unreported = 0
        last_event = last_report = time.monotonic()
        try:
            if first:
                await anyio.to_thread.run_sync(_write, handle, hasher, first)
                written = unsent = unreported = len(first)
            async for chunk in chunks:
                await anyio.to_thread.run_sync(_write, handle, hasher, chunk)
                written += len(chunk)
                unsent += len(chunk)
                unreported += len(chunk)
                now = time.monotonic()
                if unsent >= _EVENT_BYTES or now - last_event >= _EVENT_SECONDS:
                    self.sink(BytesReceived(item=job.id, count=unsent))
                    unsent, last_event = 0, now
                if unreported >= _REPORT_BYTES or now - last_report >= _REPORT_SECONDS:
                    unreported, last_report = 0, now
                    if not await report(start + written):
                        raise _ClaimLost
        finally:
            state.received += written
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(handle.close)
            if unsent:
                self.sink(BytesReceived(item=job.id, count=unsent))
        if total is not None and start + written < total:
            raise _Retry(f"the body ended after {start + written} of {total} bytes")
        await report(start + written)

    async def _finish(self, job: Job, state: _State, tries: int) -> ItemResult:
        size = (await anyio.to_thread.run_sync(_inspect, job.part))[0]
        if state.total is not None and size != state.total:
            raise VerificationError(
                f"{job.id}: size mismatch: the server announced {state.total} bytes, got {size}"
            )
        hasher = await self._hasher_at(job, state, size)
        # Burst manifests have emptied checksums: the zip's CRCs and the listed files are
        # what can be checked.
        try:
            await verify_zip_async(job.part, check_manifest=True)
        except VerificationError as exc:
            raise VerificationError(str(exc).replace(job.part.name, f"burst {job.id}")) from None
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
        raise _Refused(f"no free file name for burst {job.id} (tried {_MAX_NAME_CANDIDATES})")


def _untrusted_reason(url: str) -> str:
    origin = httpx.URL(url)
    return (
        f"redirected to {origin.scheme}://{origin.netloc.decode()}, which asks for "
        "authentication; the token is only sent to the configured CDSE hosts"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no data for too long ({type(exc).__name__})"
    if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
        return f"cannot write the file: {exc.strerror or exc}"
    if isinstance(exc, _Retry | _Refused):
        return str(exc)
    return describe(exc)


# -- bulk -----------------------------------------------------------------------------------


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


async def _open_ledger(path: Path) -> Ledger:
    return await anyio.to_thread.run_sync(Ledger, path)


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
        if session is None:
            endpoints = endpoints or Endpoints.from_env()
            credentials = credentials or Credentials.from_env()
            session = await stack.enter_async_context(
                Session(endpoints, credentials, limits=limits, retry=retry, sink=sink)
            )
        planned, rejected = plan_bursts(items, out, catalogue_url=session.endpoints.catalogue_url)
        for _, result in rejected:
            sink(ItemFailed(item=result.id, reason=result.reason or "failed", attempts=0))
        ledger = await _open_ledger(Path(ledger_path) if ledger_path else out / LEDGER_NAME)
        stack.push_async_callback(anyio.to_thread.run_sync, ledger.close)
        transfer = BurstTransfer(session, sink=sink)
        summary = await run_pool(
            [job for _, job in planned],
            transfer,
            ledger=ledger,
            workers=session.limits.workers,
            sink=sink,
        )
    return merge_results([index for index, _ in planned], summary, rejected)
