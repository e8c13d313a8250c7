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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from ..errors import AuthError, ServiceError, VerificationError
from ..events import EventSink
from ..session import Session
from .archive import safe_extract_async, verify_zip_async
from .checksums import StreamHasher, compare_checksums
from .parts import (
    PartState,
    PartTransfer,
    Refused,
    Retry,
    announce,
    body_batches,
    first_batch,
    placement,
    resume_headers,
)
from .plan import Job
from .pool import ProgressReport
from .results import ItemResult, already_there

ETAG_SUFFIX = ".etag"


async def no_report(_bytes: int) -> bool:
    """A `ProgressReport` that records nothing."""
    return True


@dataclass
class _State(PartState):
    """What one item's tries share: the part-file state and the ETag of its bytes."""

    etag: str | None = None


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


def _install(part: Path, target: Path) -> int:
    size = part.stat().st_size
    os.replace(part, target)
    part.with_name(part.name + ETAG_SUFFIX).unlink(missing_ok=True)
    return size


def _unexpected(response: httpx.Response) -> ServiceError:
    status = response.status_code
    return ServiceError(
        f"unexpected {status} answer for a download", status=status, url=str(response.url)
    )


class HttpTransfer(PartTransfer[_State]):
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
        super().__init__(session, sink)
        self.verify = verify
        self.extract = extract

    async def __call__(self, job: Job, report: ProgressReport = no_report) -> ItemResult:
        """Download, verify and install ``job``; see the class docstring."""
        existing = await self._existing(job)
        if existing is not None:
            return existing
        return await self._tries(job, _State(), report)

    def _auth_failure(
        self, job: Job, state: _State, exc: AuthError, tries: int
    ) -> ItemResult | None:
        if exc.url is None or exc.url == self.session.endpoints.token_url:
            raise exc  # the account itself was refused (the token endpoint said no)
        # A 401 even after one renewal and replay (e.g. the fresh token was revoked at
        # once): the next try gets another token.
        return None

    async def _discard(self, job: Job, state: _State) -> None:
        await anyio.to_thread.run_sync(_discard_part, job.part)
        state.hasher = None

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
        return already_there(job, size, _checksum_text(job.checksums))

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
        headers = resume_headers(offset, state.etag)
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
                    raise Retry("the server refused to resume; starting over") from None
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
        start, total = placement(response, offset, _unexpected)
        body = body_batches(response, self.chunk_size)
        first = await first_batch(response, body) if start == 0 else None
        if total is not None and job.size is not None and total != job.size:
            raise Refused(f"the server announced {total} bytes but the catalogue lists {job.size}")
        state.total = total
        if start == 0:
            state.etag = response.headers.get("ETag")
            await anyio.to_thread.run_sync(_save_etag, job.part, state.etag)
        announce(state, self.sink, job, total or job.size, start)
        await self._stream_into_part(
            job, state, hasher, body, start=start, total=total, report=report, first=first
        )

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
            # The part's name would confuse: report the product's file name.
            await verify_zip_async(
                job.part,
                checksums=dict(job.checksums) or None,
                computed=computed,
                check_manifest=self.verify,
                subject=name,
            )
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
