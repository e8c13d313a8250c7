"""Resumable, verified HTTP transfer of one product.

Bytes stream into ``<target>.part``. An interrupted stream leaves the part in place and the
next try asks for the rest (``Range: bytes=N-`` with ``If-Range: <ETag>``); a server that
ignores the range (200) restarts the part from zero. Digests are computed while streaming
(primed from the part on resume), and the file is renamed to its final name only after its
size, checksums, zip structure and ``manifest.safe`` have been checked. A complete file that
fails those checks is garbage and is deleted; a partial one never is.

The ETag of the part's bytes is kept next to it in ``<target>.part.etag`` so that a later
run can still send ``If-Range``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread
import httpx

from ..errors import AuthError, ServiceError, VerificationError
from ..events import BytesReceived, EventSink, ItemStarted, RetryScheduled
from ..retry import RetryableStatusError
from ..session import Session, describe
from .plan import Job
from .pool import ItemResult, ProgressReport
from .verify import (
    StreamHasher,
    compare_checksums,
    looks_like_error_page,
    safe_extract_async,
    verify_zip_async,
)

ETAG_SUFFIX = ".etag"
# BytesReceived is an event per this many bytes (or per half second), not per network read.
_EVENT_BYTES = 1 << 20
_EVENT_SECONDS = 0.5
# The ledger hears about progress less often: each report is a SQLite transaction.
_REPORT_BYTES = 8 << 20
_REPORT_SECONDS = 5.0
# Throttling (429) is about the account, not the item: it does not use up the item's tries,
# but an item never takes more than this many times the policy's tries in total.
_MAX_TRIES_FACTOR = 4
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


async def no_report(_bytes: int) -> bool:
    """A `ProgressReport` that records nothing."""
    return True


class _Retry(Exception):
    """This try failed in a way the next try can fix."""


class _Incomplete(_Retry):
    """The body ended before the announced length."""


class _ErrorPage(_Retry):
    """An error page was served with 200 in place of the zip."""


class _ClaimLost(Exception):
    """Another process took the item over (our lease ran out)."""


class _Mismatch(Exception):
    """The server announced a size the catalogue contradicts; retrying will not fix it."""


@dataclass
class _State:
    """What one item's tries share."""

    hasher: StreamHasher | None = None
    etag: str | None = None
    total: int | None = None
    ranges: bool = True
    started: bool = False
    received: int = 0


def _inspect(part: Path) -> tuple[int, str | None]:
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0, None
    etag_file = part.with_name(part.name + ETAG_SUFFIX)
    try:
        etag = etag_file.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        etag = None
    return size, etag


def _discard_part(part: Path) -> None:
    part.unlink(missing_ok=True)
    part.with_name(part.name + ETAG_SUFFIX).unlink(missing_ok=True)


def _save_etag(part: Path, etag: str | None) -> None:
    etag_file = part.with_name(part.name + ETAG_SUFFIX)
    if etag:
        etag_file.write_text(etag, encoding="ascii")
    else:
        etag_file.unlink(missing_ok=True)


def _open_part(part: Path, append: bool) -> BinaryIO:
    part.parent.mkdir(parents=True, exist_ok=True)
    return open(part, "ab" if append else "wb")  # closed by the caller


def _write(handle: BinaryIO, hasher: StreamHasher, chunk: bytes) -> None:
    handle.write(chunk)
    hasher.update(chunk)


def _install(part: Path, target: Path) -> int:
    size = part.stat().st_size
    os.replace(part, target)
    part.with_name(part.name + ETAG_SUFFIX).unlink(missing_ok=True)
    return size


def _strong(etag: str | None) -> str | None:
    # If-Range needs a strong validator; a weak one (W/"...") must not be sent.
    if etag and not etag.strip().upper().startswith("W/"):
        return etag.strip()
    return None


def _placement(response: httpx.Response, offset: int) -> tuple[int, int | None]:
    """(offset the body starts at, total size) of a 200 or 206 answer."""
    status = response.status_code
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if not match:
            raise _Retry("206 without a usable Content-Range")
        start = int(match[1])
        if start != offset:
            raise _Retry(f"asked for bytes from {offset}, the server sent them from {start}")
        return start, None if match[3] == "*" else int(match[3])
    if status == 200:
        length = response.headers.get("Content-Length")
        return 0, int(length) if length and length.isdigit() else None
    raise ServiceError(
        f"unexpected {status} answer for a download", status=status, url=str(response.url)
    )


class HttpTransfer:
    """Fetches one `Job` over HTTP into its part file, verifies it and renames it into place.

    Args:
        session: the run's session (client, token, budget, retry policy).
        verify: also check zip integrity and ``manifest.safe`` (size and checksums are
            always checked: they come for free while streaming).
        extract: unpack the verified zip next to it (safely).
        sink: receives ItemStarted, BytesReceived and RetryScheduled events.

    Calling it returns an `ItemResult`; per-item failures are results. It raises only what
    makes the whole run meaningless: `AuthError` (the account or token is refused) and
    cancellation.
    """

    def __init__(
        self,
        session: Session,
        *,
        verify: bool = True,
        extract: bool = False,
        sink: EventSink | None = None,
    ) -> None:
        self.session = session
        self.verify = verify
        self.extract = extract
        self.sink = sink or session.sink
        self.chunk_size = session.limits.chunk_size

    async def __call__(self, job: Job, report: ProgressReport = no_report) -> ItemResult:
        """Download, verify and install ``job``; see the class docstring."""
        state = _State()
        existing = await self._existing(job)
        if existing is not None:
            return existing
        policy = self.session.retry
        tries = failures = 0
        error: BaseException
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
                    reason="another process took this item over",
                    attempts=tries,
                    bytes=state.received,
                )
            except AuthError as exc:
                if self._ends_run(exc):
                    raise
                # A 401 even after one renewal and replay (e.g. the fresh token was revoked
                # at once): the next try gets another token.
                error = exc
                failures += 1
            except VerificationError as exc:
                # Complete but wrong: these bytes are garbage, not a resume point.
                await anyio.to_thread.run_sync(_discard_part, job.part)
                state.hasher = None
                error = exc
                failures += 1
            except _Mismatch as exc:
                return self._failed(job, state, str(exc), tries)
            except (OSError, ServiceError, httpx.HTTPError, _Retry) as exc:
                if not self._retryable(exc):
                    return self._failed(job, state, self._reason(exc), tries)
                error = exc
                after = (await anyio.to_thread.run_sync(_inspect, job.part))[0]
                if after > before:
                    failures = 0  # it moved forward: resume, the tries are not wasted
                elif not (isinstance(exc, RetryableStatusError) and exc.status == 429):
                    failures += 1
            if failures >= policy.attempts or tries >= policy.attempts * _MAX_TRIES_FACTOR:
                return self._failed(job, state, self._reason(error), tries)
            delay = policy.delay(max(failures, 1), error)
            self.sink(
                RetryScheduled(item=job.id, attempt=tries, delay=delay, reason=self._reason(error))
            )
            await anyio.sleep(delay)

    def _ends_run(self, exc: AuthError) -> bool:
        """True when the account itself was refused (the token endpoint said no)."""
        return exc.url is None or exc.url == self.session.endpoints.token_url

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, _Retry):
            return True
        if isinstance(exc, OSError):
            return False  # the disk, not the network: another try writes to the same disk
        return self.session.retry.is_retryable(exc)

    @staticmethod
    def _reason(exc: BaseException) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"no data for too long ({type(exc).__name__})"
        if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
            return f"cannot write the file: {exc.strerror or exc}"
        if isinstance(exc, _Retry | _Mismatch):
            return str(exc)
        return describe(exc)

    def _failed(self, job: Job, state: _State, reason: str, tries: int) -> ItemResult:
        return ItemResult(
            job.id, job.name, "failed", reason=reason, attempts=tries, bytes=state.received
        )

    async def _existing(self, job: Job) -> ItemResult | None:
        """A skipped result when the target is already on disk and verifies, else None."""
        if not job.target.is_file():
            return None
        try:
            size = (await anyio.to_thread.run_sync(job.target.stat)).st_size
            if job.size is not None and size != job.size:
                return None
            await verify_zip_async(
                job.target,
                expected_size=job.size,
                checksums=dict(job.checksums) or None,
                check_manifest=self.verify,
            )
        except (VerificationError, OSError):
            return None  # replaced by a fresh download at the end
        return ItemResult(
            job.id,
            job.name,
            "skipped",
            path=job.target,
            reason="already on disk and verified",
            size=size,
            checksum=_checksum_text(job.checksums),
        )

    async def _hasher_at(self, job: Job, state: _State, offset: int) -> StreamHasher:
        """A hasher that has seen exactly the first ``offset`` bytes of the part."""
        if state.hasher is not None and state.hasher.bytes_hashed == offset:
            return state.hasher
        hasher = StreamHasher(job.checksums or ("MD5",))
        if offset:
            primed = await hasher.prime_async(job.part, limit=offset)
            if primed != offset:
                raise _Retry("the partial file changed while being read")
        state.hasher = hasher
        return hasher

    async def _fetch(self, job: Job, state: _State, report: ProgressReport) -> None:
        """One request: bring the part to its full length (or raise)."""
        offset, saved_etag = await anyio.to_thread.run_sync(_inspect, job.part)
        state.etag = state.etag or saved_etag
        if offset and (not state.ranges or (job.size is not None and offset > job.size)):
            await anyio.to_thread.run_sync(_discard_part, job.part)
            offset, state.etag = 0, None
        if offset and offset == (state.total or job.size):
            return  # complete on disk (the last run stopped before renaming it)
        hasher = await self._hasher_at(job, state, offset)
        headers: dict[str, str] = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator := _strong(state.etag):
                headers["If-Range"] = validator
        try:
            async with self.session.stream(job.method, job.url, headers) as response:
                await self._receive(job, state, response, offset, hasher, report)
        except ServiceError as exc:
            if exc.status == 416 and offset:
                # The range was refused: either the part is already whole, or the server
                # does not do ranges. Check the part; if it is not whole, start over.
                state.ranges = False
                if (
                    job.size is None
                    and state.total is None
                    and not job.checksums
                    and not self.verify
                ):
                    # Nothing could tell a whole part from a truncated one.
                    await anyio.to_thread.run_sync(_discard_part, job.part)
                    raise _Retry("the server refused to resume; starting over") from None
                return  # _finish checks it; a part that is not whole is then discarded
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
            # 200 to a ranged request: the server ignored Range (or the ETag changed).
            hasher = StreamHasher(hasher.algorithms)
            state.hasher = hasher
        chunks = response.aiter_bytes(self.chunk_size)
        first = b""
        if start == 0:
            # Look before writing: a 200 error page must not replace a good partial file.
            first = await anext(chunks, b"")
            if looks_like_error_page(first[:512], response.headers.get("Content-Type")):
                text = first[:200].decode("utf-8", "replace")
                snippet = " ".join(re.sub(r"<[^>]*>", " ", text).split())[:120]
                raise _ErrorPage(f"the server sent an error page instead of the zip: {snippet!r}")
        if total is not None and job.size is not None and total != job.size:
            raise _Mismatch(
                f"the server announced {total} bytes but the catalogue lists {job.size}"
            )
        state.total = total
        if start == 0:
            state.etag = response.headers.get("ETag")
            await anyio.to_thread.run_sync(_save_etag, job.part, state.etag)
        if not state.started:
            state.started = True
            self.sink(
                ItemStarted(
                    item=job.id, name=job.name, total_bytes=total or job.size, resume_from=start
                )
            )
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
            raise _Incomplete(f"the body ended after {start + written} of {total} bytes")
        await report(start + written)

    async def _finish_check(self, job: Job, state: _State, hasher: StreamHasher) -> int:
        """Size, checksums, zip and manifest of the complete part; returns its size."""
        size = (await anyio.to_thread.run_sync(_inspect, job.part))[0]
        name = job.target.name
        if state.total is not None and size != state.total:
            raise VerificationError(
                f"{name}: size mismatch: the server announced {state.total} bytes, got {size}"
            )
        if job.size is not None and size != job.size:
            raise VerificationError(
                f"{name}: size mismatch: the catalogue lists {job.size} bytes, got {size}"
            )
        computed = hasher.hexdigests() if hasher.bytes_hashed == size else {}
        if job.checksums and computed:
            compare_checksums(job.checksums, computed, name=name)
        if self.verify or (job.checksums and not computed):
            try:
                await verify_zip_async(
                    job.part,
                    checksums=dict(job.checksums) or None,
                    computed=computed,
                    check_manifest=self.verify,
                )
            except VerificationError as exc:
                # The part's name would confuse: report the product's file name.
                raise VerificationError(str(exc).replace(job.part.name, name, 1)) from None
        return size

    async def _finish(self, job: Job, state: _State, tries: int) -> ItemResult:
        hasher = await self._hasher_at(
            job, state, (await anyio.to_thread.run_sync(_inspect, job.part))[0]
        )
        size = await self._finish_check(job, state, hasher)
        await anyio.to_thread.run_sync(_install, job.part, job.target)
        if self.extract:
            try:
                await safe_extract_async(job.target, job.target.parent)
            except VerificationError as exc:
                return self._failed(job, state, f"extraction refused: {exc}", tries)
        digests = hasher.hexdigests() if hasher.bytes_hashed == size else {}
        return ItemResult(
            job.id,
            job.name,
            "downloaded",
            path=job.target,
            attempts=tries,
            bytes=state.received,
            size=size,
            checksum=_checksum_text(digests or job.checksums),
        )


def _checksum_text(digests: Mapping[str, str]) -> str | None:
    """``md5:<hex>`` (or the first algorithm present) for the ledger."""
    if not digests:
        return None
    algorithm = "MD5" if "MD5" in digests else next(iter(digests))
    return f"{algorithm.lower()}:{digests[algorithm]}"
