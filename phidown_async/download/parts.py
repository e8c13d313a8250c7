"""HTTP part transfers: the tries of one item fetched over HTTP into its part file.

What `transfer.HttpTransfer` (products) and `bursts.BurstTransfer` share. A try asks for the
bytes after those already in the part (``Range``, with ``If-Range`` when the ETag is
strong); the answer's body is placed by its status and ``Content-Range`` (a 200 restarts
the part from zero), looked at before anything is written (an error page must not replace
a good partial file), then written into the part (`partfile.PartFile`) while it is hashed,
never past the file's known size, and abandoned when it arrives too slowly (`speed`).
Tries follow the run's policy (`tries.keep_trying`): a try that moved the part forward does
not use up the item's tries.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Generic, TypeVar

import anyio
import anyio.to_thread
import httpx

from ..errors import AuthError, ServiceError, VerificationError
from ..events import EventSink, ItemStarted
from ..http_errors import unexpected_answer
from ..session import Session
from ..transport import PUMP, BodyPump
from .archive import looks_like_error_page
from .checksums import StreamHasher, stream_algorithms
from .partfile import PartFile
from .plan import Job
from .pool import ProgressReport
from .progress import ClaimLost, ProgressBatches
from .results import ItemResult
from .speed import SpeedWatch, TooSlow, watch_speed
from .tries import GaveUp, Refused, Retry, keep_trying

#: Bytes one `BodyPump` call may move (it also returns after `transport.PATIENCE`).
_PUMP_BYTES = 32 << 20

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class Incomplete(Retry):
    """The body ended before the announced length."""


class ErrorPage(Retry):
    """An error page was served with 200 in place of the zip."""


class Overflow(Retry):
    """The body went on past the file's known size."""


@dataclass
class PartState:
    """What one item's tries share.

    Attributes:
        hasher: has seen exactly the part's bytes (None until a try needs it).
        total: the size the server announced.
        validator: the ETag the part's bytes belong to.
        ranges: the server honours ``Range`` (False after it refused one).
        started: ItemStarted was sent.
        received: bytes written in this run.
    """

    hasher: StreamHasher | None = None
    total: int | None = None
    validator: str | None = None
    ranges: bool = True
    started: bool = False
    received: int = 0


StateT = TypeVar("StateT", bound=PartState)


def resume_headers(offset: int, etag: str | None) -> dict[str, str]:
    """Headers asking for the bytes after the first ``offset`` (none when it is 0)."""
    headers: dict[str, str] = {}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        # If-Range needs a strong validator; a weak one (W/"...") must not be sent.
        if etag and not etag.strip().upper().startswith("W/"):
            headers["If-Range"] = etag.strip()
    return headers


def placement(response: httpx.Response, offset: int, what: str) -> tuple[int, int | None]:
    """(offset the body starts at, total size) of a 200 or 206 answer.

    Args:
        offset: where the request asked the body to start.
        what: names the request in the error for any other status.

    Raises:
        Retry: a 206 without a usable ``Content-Range``, or one starting elsewhere.
        ServiceError: any status but 200 and 206.
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
    raise unexpected_answer(response, what)


async def body_batches(
    response: httpx.Response, size: int, speed: SpeedWatch
) -> AsyncIterator[list[bytes]]:
    """The body as lists of network chunks of about ``size`` bytes each (the last may be
    smaller); chunks are passed on as received, never joined or split (no copies).

    The reads are watched by ``speed``, which counts every chunk.

    Raises:
        TooSlow: ``speed`` abandoned the body (after passing on what arrived before).
        httpx.TransportError: the connection broke (likewise).
    """
    chunks = response.aiter_bytes()
    batch: list[bytes] = []
    held = 0
    ended = False
    try:
        while not ended:
            with speed.reading():
                async for chunk in chunks:
                    batch.append(chunk)
                    held += len(chunk)
                    speed.received += len(chunk)
                    if held >= size:
                        break
                else:
                    ended = True
            if batch:
                yield batch
                batch, held = [], 0
    except (httpx.TransportError, TooSlow):
        if batch:
            yield batch  # bytes that arrived before the break are good: keep them
        raise


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


class _PartSink:
    """Writes a body into an open part file and its hasher, never past the known size.

    Called in worker threads: by `transport.BodyPump` for each piece it reads, or with a
    batch of chunks from the stream. ``written`` counts what reached the part.

    Raises:
        Overflow: the body went on past ``limit`` (the bytes up to it are written).
    """

    def __init__(
        self, handle: BinaryIO, hasher: StreamHasher, *, start: int, limit: int | None
    ) -> None:
        self._handle = handle
        self._hasher = hasher
        self._room = None if limit is None else max(0, limit - start)
        self._limit = limit
        self.written = 0

    def __call__(self, chunk: bytes | memoryview) -> None:
        size = len(chunk)
        if self._room is not None and self.written + size > self._room:
            self._put(chunk[: self._room - self.written])
            raise Overflow(f"the server sent more than {self._limit} bytes")
        self._put(chunk)

    def batch(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self(chunk)

    def _put(self, chunk: bytes | memoryview) -> None:
        self._handle.write(chunk)
        self._hasher.update(chunk)
        self.written += len(chunk)


class PartTransfer(ABC, Generic[StateT]):
    """The tries of one item fetched over HTTP into its part file.

    A try (`_fetch`) asks for what the part lacks and streams it in; `_finish` checks the
    whole part and gives it its final name. Subclasses say how the request is sent
    (`_request`), what else the part's sidecar records (`_record`), how a whole part is
    checked and named (`_finish`) and what a refused token means for the item
    (`_auth_failure`).

    Args:
        session: the run's session (client, token, budget, retry policy).
        sink: receives ItemStarted, BytesReceived and RetryScheduled events (default: the
            session's).
    """

    #: Names the request in errors ("unexpected 204 answer to the <what>").
    what: ClassVar[str] = "download"
    #: The skipped result's reason when the ledger gave the item to another process.
    taken_over: ClassVar[str] = "another process took this item over"

    def __init__(self, session: Session, sink: EventSink | None = None) -> None:
        self.session = session
        self.sink = sink or session.sink
        self.chunk_size = session.limits.chunk_size

    @abstractmethod
    def _request(
        self, job: Job, headers: dict[str, str]
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """Send the item's request; yields the (streamed) final answer."""

    @abstractmethod
    async def _finish(self, job: Job, state: StateT, tries: int) -> ItemResult:
        """Check the whole part and give it its final name."""

    def _record(self, response: httpx.Response, state: StateT, start: int) -> dict[str, Any]:
        """What the part's sidecar records besides the validator (nothing by default)."""
        return {}

    def _restore(self, state: StateT, record: dict[str, Any]) -> None:
        """Take back what `_record` saved in the sidecar (nothing by default)."""

    def _can_tell_whole(self, job: Job, state: StateT) -> bool:
        """True when `_finish` can tell a whole part from a truncated one."""
        return True

    def _auth_failure(self, job: Job, exc: AuthError) -> None:
        """What a refused token means for the item: raise `Retry` (another try with a new
        token), `Refused` (this item fails) or ``exc`` itself (the run ends)."""
        raise exc

    async def _discard(self, job: Job, state: StateT) -> None:
        """Delete a part whose bytes are wrong, and forget what was known about it."""
        await anyio.to_thread.run_sync(PartFile(job.part).discard)
        state.hasher, state.validator = None, None

    async def _tries(self, job: Job, state: StateT, report: ProgressReport) -> ItemResult:
        """Try ``job`` until it is done, refused or out of tries; ``state`` starts empty.

        Raises:
            AuthError: as `_auth_failure` decides.
        """
        part = PartFile(job.part)
        tries = 0

        async def once() -> ItemResult:
            nonlocal tries
            tries += 1
            try:
                await self._fetch(job, state, report)
                return await self._finish(job, state, tries)
            except VerificationError:
                # Complete but wrong: these bytes are garbage, not a resume point.
                await self._discard(job, state)
                raise
            except AuthError as exc:
                self._auth_failure(job, exc)
                raise

        async def position() -> int:
            return await anyio.to_thread.run_sync(part.size)

        try:
            return await keep_trying(
                once,
                policy=self.session.retry,
                sink=self.sink,
                item=job.id,
                position=position,
            )
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
            return self._failed(job, state, str(exc), tries, permanent=True)
        except GaveUp as exc:
            return self._failed(job, state, str(exc), tries, permanent=exc.permanent)

    async def _fetch(self, job: Job, state: StateT, report: ProgressReport) -> None:
        """One request: bring the part to its full length (or raise)."""
        part = PartFile(job.part)
        offset = await anyio.to_thread.run_sync(part.size)
        record = await anyio.to_thread.run_sync(part.load)
        if state.validator is None:
            state.validator = record.get("validator")
            self._restore(state, record)
        if offset and (not state.ranges or (job.size is not None and offset > job.size)):
            await self._discard(job, state)
            offset = 0
        if offset and offset == (state.total or job.size):
            return  # complete on disk (the last run stopped before renaming it)
        hasher = await self._hasher_at(job, state, offset)
        try:
            async with (
                self._request(job, resume_headers(offset, state.validator)) as response,
                watch_speed(self.session.limits) as speed,
            ):
                await self._receive(job, state, response, offset, hasher, report, speed)
        except ServiceError as exc:
            if exc.status != 416 or not offset:
                raise
            # The range was refused: either the part is already whole, or the server does
            # not do ranges. _finish checks the part; one that is not whole is then
            # discarded and the next try asks without Range.
            state.ranges = False
            if not self._can_tell_whole(job, state):
                await self._discard(job, state)
                raise Retry("the server refused to resume; starting over") from None

    async def _receive(
        self,
        job: Job,
        state: StateT,
        response: httpx.Response,
        offset: int,
        hasher: StreamHasher,
        report: ProgressReport,
        speed: SpeedWatch,
    ) -> None:
        start, total = placement(response, offset, self.what)
        body = body_batches(response, self.chunk_size, speed)
        # An error page first: it says more than the size it comes with.
        first = await first_batch(response, body) if start == 0 else None
        if total is not None and job.size is not None and total != job.size:
            raise Refused(f"the server announced {total} bytes but the catalogue lists {job.size}")
        state.total = total
        if start == 0:
            state.validator = response.headers.get("ETag")
        extra = self._record(response, state, start)
        part = PartFile(job.part)
        await anyio.to_thread.run_sync(lambda: part.save(validator=state.validator, **extra))
        if not state.started:
            state.started = True
            self.sink(
                ItemStarted(
                    item=job.id, name=job.name, total_bytes=total or job.size, resume_from=start
                )
            )
        await self._stream_into_part(
            job,
            state,
            hasher,
            body,
            start=start,
            total=total,
            report=report,
            first=first,
            pump=response.extensions.get(PUMP),
            speed=speed,
        )

    @staticmethod
    def _failed(
        job: Job, state: PartState, reason: str, tries: int, *, permanent: bool = False
    ) -> ItemResult:
        return ItemResult(
            job.id,
            job.name,
            "failed",
            reason=reason,
            attempts=tries,
            bytes=state.received,
            permanent=permanent,
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
        first: list[bytes] | None,
        pump: BodyPump | None,
        speed: SpeedWatch,
    ) -> None:
        """Write a body into ``job.part`` from ``start``, hashing it and telling the run.

        A body from 0 empties the part and restarts the hasher; any other is appended (the
        part holds exactly ``start`` bytes, all fed to ``hasher``). ``state.received`` counts
        the bytes written, also when this raises. Nothing is written past the known size
        (the catalogue's, else the server's ``total``): a body going on past it is cut
        there. The bytes up to it are kept, like those of a body cut short: the whole part
        is checked (size, checksums, zip) before it counts, and the next try finds it
        complete or discards it.

        Args:
            body: the rest of the body, from `body_batches`.
            first: the batch already read from it (by `first_batch`).
            total: the size announced by the server, None when unknown.
            pump: the response's `transport.BodyPump`, when its transport has one: it then
                moves the rest of the body in place of ``body``, watched by ``speed``.

        Raises:
            ClaimLost: the ledger says another process took the item over.
            Incomplete: the body ended before the known size.
            Overflow: the body went on past the known size.
            OSError: the disk refused the bytes.
        """
        if start == 0 and hasher.bytes_hashed:
            # 200 to a ranged request: the server sent everything again.
            hasher = StreamHasher(hasher.algorithms)
            state.hasher = hasher
        part = PartFile(job.part)
        handle = await anyio.to_thread.run_sync(lambda: part.open(start, truncate=start == 0))
        progress = ProgressBatches(job.id, self.sink, report)
        limit = job.size if job.size is not None else total
        sink = _PartSink(handle, hasher, start=start, limit=limit)
        counted = 0

        def account() -> int:
            """Counts the bytes written since the last call for progress; returns them."""
            nonlocal counted
            fresh, counted = sink.written - counted, sink.written
            progress.count(fresh)
            return fresh

        try:
            if first:
                try:
                    await anyio.to_thread.run_sync(sink.batch, first)
                finally:
                    account()
            if pump is not None:
                # One thread hop reads, writes and hashes several megabytes.
                while True:
                    try:
                        with speed.reading():
                            count = await pump(sink, _PUMP_BYTES)
                    finally:
                        speed.received += account()
                    if not count:
                        break
                    await progress.tell(start + sink.written)
            else:
                async for batch in body:
                    try:
                        await anyio.to_thread.run_sync(sink.batch, batch)
                    finally:
                        account()
                    await progress.tell(start + sink.written)
        finally:
            state.received += sink.written
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(handle.close)
            progress.flush()
        if limit is not None and start + sink.written < limit:
            raise Incomplete(f"the body ended after {start + sink.written} of {limit} bytes")
        await report(start + sink.written)
