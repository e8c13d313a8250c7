"""Resumable, verified HTTP transfer of one product.

Bytes stream into ``<target>.part`` (see `parts.PartTransfer` for the tries, resume and
placement of bodies). Digests are computed while streaming (primed from the part on resume),
and the file is renamed to its final name only after it passed its checks. How far they go
(`VERIFY_LEVELS`):

- ``default``: size; the catalogue's whole-file checksum, computed while streaming; the
  zip's central directory (readable, no unsafe names) and ``manifest.safe`` against the
  archive's listing (every listed file present with its listed size). A matching
  whole-file checksum already proves the bytes are CDSE's, so nothing is read twice. When
  there is no usable whole-file checksum (none, or malformed), the deep check runs.
- ``full``: also the deep check: every member's CRC and every listed file's checksum.
- ``none``: size and the whole-file checksum only.

A complete file that fails its checks is garbage and is deleted; a partial one never is.
A file whose whole-file checksum matches the catalogue but whose contents disagree with its
own manifest is corrupt at the source: fetching it again would bring the same bytes, so the
item fails for good and the file is kept under a distinct name for inspection.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

import anyio
import anyio.to_thread
import httpx

from ..errors import AuthError, VerificationError
from ..events import ChecksumIgnored, EventSink
from ..session import Session
from .archive import extracted_folder_async, safe_extract_async, verify_zip_async
from .checksums import StreamHasher, compare_checksums, compare_size, hash_file, stream_algorithms
from .partfile import PartFile
from .parts import PartState, PartTransfer
from .plan import Job
from .pool import ProgressReport
from .results import ItemResult, already_there
from .tries import Retry

VERIFY_LEVELS = ("none", "default", "full")
#: Where a product whose own bytes are corrupt at the source is kept.
CORRUPT_SUFFIX = ".corrupt-at-source.zip"


def verification_level(verify: bool | str) -> str:
    """``none``, ``default`` or ``full`` from a level or a bool (True: ``default``).

    Raises:
        ValueError: an unknown level.
    """
    if isinstance(verify, bool):
        return "default" if verify else "none"
    if verify not in VERIFY_LEVELS:
        raise ValueError(f"verify must be one of {', '.join(VERIFY_LEVELS)}, got {verify!r}")
    return verify


async def no_report(_bytes: int) -> bool:
    """A `ProgressReport` that records nothing."""
    return True


class HttpTransfer(PartTransfer[PartState]):
    """Fetches one `Job` over HTTP into its part file, verifies it and renames it into place.

    Args:
        session: the run's session (client, token, budget, retry policy).
        verify: ``default``, ``full`` or ``none`` (see the module docstring; True and False
            mean ``default`` and ``none``). An item without a usable catalogue checksum
            is checked member by member whatever ``verify`` says.
        extract: unpack the verified zip next to it (safely), also when it was downloaded
            before; an item whose extraction is refused fails (its zip is kept).
        sink: receives ItemStarted, BytesReceived, RetryScheduled and ChecksumIgnored events.

    Calling it returns an `ItemResult`; per-item failures are results. It raises only what
    makes the whole run meaningless: `AuthError` (the account or token is refused) and
    cancellation.
    """

    def __init__(
        self,
        session: Session,
        *,
        verify: bool | str = "default",
        extract: bool = False,
        sink: EventSink | None = None,
    ) -> None:
        super().__init__(session, sink)
        self.level = verification_level(verify)
        self.extract = extract

    async def __call__(self, job: Job, report: ProgressReport = no_report) -> ItemResult:
        """Download, verify and install ``job``; see the class docstring."""
        notes = []
        for ignored in job.ignored_checksums:
            self.sink(
                ChecksumIgnored(item=job.id, algorithm=ignored.algorithm, reason=ignored.reason)
            )
            notes.append(
                f"the catalogue's {ignored.algorithm} checksum was ignored ({ignored.reason}); "
                "the zip is checked file by file instead"
            )
        result = await self._existing(job)
        if result is None:
            result = await self._tries(job, PartState(), report)
        if self.extract and result.path is not None:
            result = await self._unpack(job, result)
        return replace(result, notes=tuple(notes)) if notes else result

    async def unpacked(self, job: Job) -> bool:
        """True when a ``job`` already done needs nothing more: no extraction was asked
        for, or its extraction is in place."""
        if not self.extract:
            return True
        try:
            return await extracted_folder_async(job.target, job.target.parent) is not None
        except (VerificationError, OSError):
            return False

    def _structure(self, job: Job) -> bool:
        """Check the zip's directory and its manifest's listing (a malformed catalogue
        checksum asks for it whatever the level: it was said to be checked another way)."""
        return self.level != "none" or bool(job.ignored_checksums)

    def _deep(self, job: Job) -> bool:
        """Read every member: asked for, or no catalogue checksum to trust."""
        return self.level == "full" or (self._structure(job) and not job.checksums)

    def _request(
        self, job: Job, headers: dict[str, str]
    ) -> AbstractAsyncContextManager[httpx.Response]:
        return self.session.stream(job.method, job.url, headers)

    def _can_tell_whole(self, job: Job, state: PartState) -> bool:
        return bool(
            job.size is not None or state.total is not None or job.checksums or self._structure(job)
        )

    def _auth_failure(self, job: Job, exc: AuthError) -> None:
        if exc.url is None or exc.url == self.session.endpoints.token_url:
            raise exc  # the account itself was refused (the token endpoint said no)
        # A 401 even after one renewal and replay (e.g. the fresh token was revoked at
        # once): the next try gets another token.
        raise Retry(str(exc)) from exc

    async def _existing(self, job: Job) -> ItemResult | None:
        """A skipped result when the target is already on disk and verifies, else None."""
        try:
            found = await anyio.to_thread.run_sync(job.target.lstat)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(found.st_mode):
            # A link planted at the final name is neither the file nor written through.
            await anyio.to_thread.run_sync(job.target.unlink)
            return None
        size = found.st_size
        if not stat.S_ISREG(found.st_mode) or (job.size is not None and size != job.size):
            return None
        try:
            await verify_zip_async(
                job.target,
                expected_size=job.size,
                checksums=dict(job.checksums) or None,
                check_manifest=self._structure(job),
                deep=self._deep(job),
            )
        except (VerificationError, OSError):
            return None  # replaced by a fresh download at the end
        return already_there(job, size, _checksum_text(job.checksums))

    async def _unpack(self, job: Job, result: ItemResult) -> ItemResult:
        """``result`` once its zip is extracted next to it (after a fresh download always,
        else when no extraction is in place), or the item's failure."""
        out = job.target.parent
        try:
            if result.status == "skipped":
                if await extracted_folder_async(job.target, out) is not None:
                    return result
                result = replace(result, reason=f"{result.reason}; extracted now")
            await safe_extract_async(job.target, out, own_names=(job.name,))
        except VerificationError as exc:
            return replace(result, status="failed", path=None, reason=f"extraction refused: {exc}")
        return result

    async def _finish_check(self, job: Job, state: PartState, hasher: StreamHasher) -> int:
        """Size and the catalogue's checksums of the complete part; returns its size."""
        size = await anyio.to_thread.run_sync(PartFile(job.part).size)
        name = job.target.name
        compare_size(state.total, size, name=name, source="the server announced")
        compare_size(job.size, size, name=name, source="the catalogue lists")
        computed = hasher.hexdigests() if hasher.bytes_hashed == size else {}
        if job.checksums and not computed:
            algorithms = list(stream_algorithms(job.checksums))
            computed = await anyio.to_thread.run_sync(hash_file, job.part, algorithms)
        if job.checksums:
            compare_checksums(job.checksums, computed, name=name)
        return size

    async def _finish(self, job: Job, state: PartState, tries: int) -> ItemResult:
        part = PartFile(job.part)
        hasher = await self._hasher_at(job, state, await anyio.to_thread.run_sync(part.size))
        size = await self._finish_check(job, state, hasher)
        if self._structure(job):
            try:
                await verify_zip_async(
                    job.part,
                    check_manifest=True,
                    deep=self._deep(job),
                    subject=job.target.name,
                )
            except VerificationError as exc:
                if not job.checksums:
                    raise  # these bytes may have been damaged on the way: fetch again
                return await self._corrupt_at_source(job, state, tries, exc)
        await anyio.to_thread.run_sync(part.install, job.target)
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

    async def _corrupt_at_source(
        self, job: Job, state: PartState, tries: int, exc: VerificationError
    ) -> ItemResult:
        """The failed result of a file that is CDSE's own (its checksum matched) and yet
        disagrees with itself; the file is kept beside the others for inspection."""
        kept = job.target.with_name(job.target.name.removesuffix(".zip") + CORRUPT_SUFFIX)
        await anyio.to_thread.run_sync(PartFile(job.part).install, kept)
        reason = (
            f"corrupt at the source: the file matches the catalogue's checksum but fails "
            f"its own check ({exc}); kept as {kept.name}"
        )
        return replace(self._failed(job, state, reason, tries), permanent=True)


def _checksum_text(digests: Mapping[str, str]) -> str | None:
    """``md5:<hex>`` (or the first algorithm present) for the ledger."""
    if not digests:
        return None
    algorithm = "MD5" if "MD5" in digests else next(iter(digests))
    return f"{algorithm.lower()}:{digests[algorithm]}"
