"""Part files: where the bytes of an HTTP download go until they have been verified.

What `transfer.HttpTransfer` (products) and `bursts.BurstTransfer` share. A try asks for the
bytes after those already in the part (``Range``, with ``If-Range`` when the ETag is
strong); the answer's body is placed by its status and ``Content-Range`` (a 200 restarts
the part from zero), looked at before anything is written (an error page must not replace
a good partial file), then appended to the part while it is hashed. `PartTransfer` runs the
tries of one item: a try that moved the part forward does not use up the item's tries.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Generic, TypeVar

import anyio
import anyio.to_thread
import httpx

from ..errors import AuthError, ServiceError, VerificationError
from ..events import EventSink, ItemStarted
from ..retry import RetryableStatusError, RetryPolicy
from ..session import Session, describe
from .archive import looks_like_error_page
from .checksums import StreamHasher, stream_algorithms
from .plan import Job
from .pool import ProgressReport
from .progress import ClaimLost, ProgressBatches, count_failure, retry_later
from .results import ItemResult

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class Retry(Exception):
    """This try failed in a way another try can fix (the message says how)."""


class Incomplete(Retry):
    """The body ended before the announced length."""


class ErrorPage(Retry):
    """An error page was served with 200 in place of the zip."""


class Refused(Exception):
    """The item cannot be fetched and another try would not help (the run goes on)."""


@dataclass
class PartState:
    """What one item's tries share (transfers add what they keep about the part)."""

    hasher: StreamHasher | None = None
    total: int | None = None
    ranges: bool = True
    started: bool = False
    received: int = 0


StateT = TypeVar("StateT", bound=PartState)


def part_size(part: Path) -> int:
    """Bytes in the part file, 0 when there is none (blocking)."""
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def _open_part(part: Path, append: bool) -> BinaryIO:
    """The part file opened for writing, at its end or emptied (blocking)."""
    part.parent.mkdir(parents=True, exist_ok=True)
    return open(part, "ab" if append else "wb")  # closed by the caller


def _write(handle: BinaryIO, hasher: StreamHasher, batch: list[bytes]) -> None:
    for chunk in batch:
        handle.write(chunk)
        hasher.update(chunk)


def resume_headers(offset: int, etag: str | None) -> dict[str, str]:
    """Headers asking for the bytes after the first ``offset`` (none when it is 0)."""
    headers: dict[str, str] = {}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        # If-Range needs a strong validator; a weak one (W/"...") must not be sent.
        if etag and not etag.strip().upper().startswith("W/"):
            headers["If-Range"] = etag.strip()
    return headers


def placement(
    response: httpx.Response,
    offset: int,
    unexpected: Callable[[httpx.Response], Exception],
) -> tuple[int, int | None]:
    """(offset the body starts at, total size) of a 200 or 206 answer.

    Args:
        offset: where the request asked the body to start.
        unexpected: the error to raise for any other status.

    Raises:
        Retry: a 206 without a usable ``Content-Range``, or one starting elsewhere.
    """
    status = response.status_code
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if not match:
            raise Retry("206 without a usable Content-Range")
        start = int(match[1])
        if start != offset:
            raise Retry(f"asked for bytes from {offset}, the server sent them from {start}")
        return start, None if match[3] == "*" else int(match[3])
    if status == 200:
        length = response.headers.get("Content-Length", "")
        return 0, int(length) if length.isdigit() else None
    raise unexpected(response)


async def body_batches(response: httpx.Response, size: int) -> AsyncIterator[list[bytes]]:
    """The body as lists of network chunks of about ``size`` bytes each (the last may be
    smaller); chunks are passed on as received, never joined or split (no copies)."""
    batch: list[bytes] = []
    held = 0
    try:
        async for chunk in response.aiter_bytes():
            batch.append(chunk)
            held += len(chunk)
            if held >= size:
                yield batch
                batch, held = [], 0
    except httpx.TransportError:
        if batch:
            yield batch  # bytes that arrived before the break are good: keep them
        raise
    if batch:
        yield batch


async def first_batch(response: httpx.Response, batches: AsyncIterator[list[bytes]]) -> list[bytes]:
    """The body's first batch (see `body_batches`), looked at before anything is written.

    Raises:
        ErrorPage: the body is an error page (or empty), not a zip.
    """
    first = await anext(batches, [])
    head = first[0][:512] if first and len(first[0]) >= 512 else b"".join(first)[:512]
    if looks_like_error_page(head, response.headers.get("Content-Type")):
        text = head[:200].decode("utf-8", "replace")
        snippet = " ".join(re.sub(r"<[^>]*>", " ", text).split())[:120]
        raise ErrorPage(f"the server sent an error page instead of the zip: {snippet!r}")
    return first


def announce(state: PartState, sink: EventSink, job: Job, total: int | None, start: int) -> None:
    """ItemStarted for the item's first answer (later tries resume silently)."""
    if not state.started:
        state.started = True
        sink(ItemStarted(item=job.id, name=job.name, total_bytes=total, resume_from=start))


def _retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    """True when another try may succeed where this one raised ``exc``."""
    if isinstance(exc, Retry):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
        return False  # the disk, not the network: another try writes to the same disk
    return policy.is_retryable(exc)


def _failure_reason(exc: BaseException) -> str:
    """What a failed try's result or event says about ``exc``."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no data for too long ({type(exc).__name__})"
    if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
        return f"cannot write the file: {exc.strerror or exc}"
    if isinstance(exc, Retry | Refused):
        return str(exc)
    return describe(exc)


class PartTransfer(ABC, Generic[StateT]):
    """The tries of one item fetched over HTTP into its part file.

    Subclasses say how one try fetches (`_fetch`), how a whole part is checked and named
    (`_finish`) and what goes with a part that failed its checks (`_discard`); `_auth_failure`
    decides what a refused token means for the item.

    Args:
        session: the run's session (client, token, budget, retry policy).
        sink: receives ItemStarted, BytesReceived and RetryScheduled events (default: the
            session's).
    """

    #: The skipped result's reason when the ledger gave the item to another process.
    taken_over: ClassVar[str] = "another process took this item over"

    def __init__(self, session: Session, sink: EventSink | None = None) -> None:
        self.session = session
        self.sink = sink or session.sink
        self.chunk_size = session.limits.chunk_size

    @abstractmethod
    async def _fetch(self, job: Job, state: StateT, report: ProgressReport) -> None:
        """One request: bring the part to its full length (or raise)."""

    @abstractmethod
    async def _finish(self, job: Job, state: StateT, tries: int) -> ItemResult:
        """Check the whole part and give it its final name."""

    @abstractmethod
    async def _discard(self, job: Job, state: StateT) -> None:
        """Delete a part that failed its checks, and forget what was known about it."""

    def _auth_failure(
        self, job: Job, state: StateT, exc: AuthError, tries: int
    ) -> ItemResult | None:
        """The item's result after a refused token, or None to try again; raises to end the run."""
        raise exc

    async def _tries(self, job: Job, state: StateT, report: ProgressReport) -> ItemResult:
        """Try ``job`` until it is done, refused or out of tries; ``state`` starts empty.

        Raises:
            AuthError: as `_auth_failure` decides.
        """
        policy = self.session.retry
        tries = failures = 0
        error: BaseException
        while True:
            tries += 1
            before = await anyio.to_thread.run_sync(part_size, job.part)
            try:
                await self._fetch(job, state, report)
                return await self._finish(job, state, tries)
            except ClaimLost:
                return ItemResult(
                    job.id,
                    job.name,
                    "skipped",
                    reason=self.taken_over,
                    attempts=tries,
                    bytes=state.received,
                )
            except Refused as exc:
                return self._failed(job, state, str(exc), tries)
            except AuthError as exc:
                result = self._auth_failure(job, state, exc, tries)
                if result is not None:
                    return result
                error = exc
                failures += 1
            except VerificationError as exc:
                # Complete but wrong: these bytes are garbage, not a resume point.
                await self._discard(job, state)
                error = exc
                failures += 1
            except (OSError, ServiceError, httpx.HTTPError, Retry) as exc:
                if not _retryable(exc, policy):
                    return self._failed(job, state, _failure_reason(exc), tries)
                error = exc
                after = await anyio.to_thread.run_sync(part_size, job.part)
                throttled = isinstance(exc, RetryableStatusError) and exc.status == 429
                failures = count_failure(failures, moved=after > before, throttled=throttled)
            if not await retry_later(
                self.sink,
                job.id,
                policy,
                tries=tries,
                failures=failures,
                error=error,
                reason=_failure_reason(error),
            ):
                return self._failed(job, state, _failure_reason(error), tries)

    @staticmethod
    def _failed(job: Job, state: PartState, reason: str, tries: int) -> ItemResult:
        return ItemResult(
            job.id, job.name, "failed", reason=reason, attempts=tries, bytes=state.received
        )

    @staticmethod
    async def _hasher_at(job: Job, state: PartState, offset: int) -> StreamHasher:
        """A hasher (`stream_algorithms` of the job's checksums) that has seen exactly the
        first ``offset`` bytes of the part; kept in ``state`` for the next try.

        Raises:
            Retry: the part changed while it was being read.
        """
        if state.hasher is not None and state.hasher.bytes_hashed == offset:
            return state.hasher
        hasher = StreamHasher(stream_algorithms(job.checksums))
        if offset and await hasher.prime_async(job.part, limit=offset) != offset:
            raise Retry("the partial file changed while being read")
        state.hasher = hasher
        return hasher

    async def _stream_into_part(
        self,
        job: Job,
        state: PartState,
        hasher: StreamHasher,
        body: AsyncIterator[list[bytes]],
        *,
        start: int,
        total: int | None,
        report: ProgressReport,
        first: list[bytes] | None = None,
    ) -> None:
        """Write a body into ``job.part`` from ``start``, hashing it and telling the run.

        A body from 0 empties the part and restarts the hasher; any other is appended (the
        part holds exactly ``start`` bytes, all fed to ``hasher``). ``state.received`` counts
        the bytes written, also when this raises.

        Args:
            body: the rest of the body, from `body_batches`.
            first: the batch already read from it (by `first_batch`).
            total: the size announced by the server, None when unknown.

        Raises:
            ClaimLost: the ledger says another process took the item over.
            Incomplete: the body ended before ``total``.
            OSError: the disk refused the bytes.
        """
        if start == 0 and hasher.bytes_hashed:
            # 200 to a ranged request: the server sent everything again.
            hasher = StreamHasher(hasher.algorithms)
            state.hasher = hasher
        handle = await anyio.to_thread.run_sync(_open_part, job.part, bool(start))
        progress = ProgressBatches(job.id, self.sink, report)
        written = 0
        try:
            if first:
                await anyio.to_thread.run_sync(_write, handle, hasher, first)
                written = sum(map(len, first))
                progress.count(written)
            async for batch in body:
                # One worker-thread hop per batch: writing and hashing a megabyte there
                # costs far less than the hop itself would per network chunk.
                await anyio.to_thread.run_sync(_write, handle, hasher, batch)
                size = sum(map(len, batch))
                written += size
                progress.count(size)
                await progress.tell(start + written)
        finally:
            state.received += written
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(handle.close)
            progress.flush()
        if total is not None and start + written < total:
            raise Incomplete(f"the body ended after {start + written} of {total} bytes")
        await report(start + written)
