"""One SAFE product over S3: every object of its folder, checked against its manifest.

For each product the prefix is listed (ListObjectsV2), the manifest (``manifest.safe`` or
``xfdumanifest.xml``) is fetched first, and a product whose listing lacks a file the manifest
lists is refused; then every other object is fetched concurrently, each request holding one
slot of the run's connection budget. Large objects come in ranged parts. Bytes go to part
files (`partfile.PartFile`) inside ``<output_dir>/<Name>.partdir``, each with a sidecar that
records the ETag its bytes belong to and which ranges are complete, so a run that was killed
fetches no complete object again. When all are there, every file the manifest lists is
checked (size and MD5 / SHA3-256); a bad file is fetched again (a bounded number of times).
Only then is the folder renamed to ``<output_dir>/<Name>``. No body is written past the
size the listing gives, and a body arriving too slowly is abandoned (`speed`) and resumed.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ...concurrency import FirstErrorGroup
from ...config import Limits
from ...disks import is_disk_full
from ...errors import VerificationError
from ...events import EventSink, ItemStarted, discard
from ...quota import ConnectionBudget
from ...retry import RetryPolicy
from ..archive import replace_path
from ..checksums import compare_checksums, hash_file
from ..manifest import MANIFEST_NAMES, parse_manifest, verify_safe_dir_async
from ..names import safe_filename
from ..partfile import PartFile, part_folder
from ..plan import Job
from ..pool import ProgressReport
from ..progress import ClaimLost, ProgressBatches
from ..results import ItemResult, already_there
from ..speed import watch_speed
from ..tries import GaveUp, Retry, keep_trying
from .client import S3Requests
from .objects import S3Object, etag_of, file_of, installed_size, relative_path

PART_SUFFIX = ".part"
DEFAULT_PART_SIZE = 32 << 20
DEFAULT_MULTIPART_THRESHOLD = 64 << 20
_SAFE_SUFFIXES = (".safe", ".sen3")


class _ProductFailed(Exception):
    """The product cannot be completed in this run (the message says which file and why).

    Attributes:
        permanent: no later run would do better (see `ItemResult.permanent`).
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


async def _disk(func: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


@dataclass
class _Product:
    """What the requests of one product share."""

    job: Job
    bucket: str
    prefix: str
    folder: Path
    batches: ProgressBatches
    single: bool = False
    received: int = 0
    on_disk: int = 0
    requests: int = 0
    # Ranged parts of one object finish concurrently; their sidecar updates take turns.
    records: anyio.Lock = field(default_factory=anyio.Lock)


class S3Transfer:
    """Fetches one product `Job` (see `objects.s3_job`) over S3 into a verified folder.

    Args:
        client: an aiobotocore S3 client (see `client.s3_client`).
        budget: the run's connection budget; every S3 request holds one slot.
        retry: the per-request retry policy.
        limits: chunk size, and the connections one product may use at once.
        part_size, multipart_threshold: objects larger than the threshold come in ranged
            parts of ``part_size`` bytes.
        sink: receives ItemStarted, BytesReceived and RetryScheduled events.

    Calling it returns an `ItemResult`; per-product failures are results. It raises only
    `AuthError` (the keys are refused) and cancellation.
    """

    def __init__(
        self,
        client: Any,
        budget: ConnectionBudget,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
        limits: Limits = Limits(),  # noqa: B008 - frozen value
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        sink: EventSink = discard,
    ) -> None:
        if part_size < 1 or multipart_threshold < 1:
            raise ValueError("part_size and multipart_threshold must be positive")
        self.requests = S3Requests(client, budget)
        self.retry = retry
        self.limits = limits
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.sink = sink

    async def __call__(self, job: Job, report: ProgressReport) -> ItemResult:
        """Download, verify and install one product; see the class docstring."""
        _, _, rest = job.url.partition("s3://")
        bucket, _, prefix = rest.partition("/")
        if await anyio.to_thread.run_sync(job.target.is_dir):
            size = await anyio.to_thread.run_sync(installed_size, job.target)
            if size is not None:
                return already_there(job, size)
        batches = ProgressBatches(job.id, self.sink, report)
        product = _Product(job, bucket, prefix, job.part, batches)
        try:
            size = await self._product(product)
        except _ProductFailed as exc:
            return self._result(product, "failed", reason=str(exc), permanent=exc.permanent)
        except OSError as exc:
            if is_disk_full(exc):
                raise  # the run's end, not this product's failure
            reason = f"cannot write the file: {exc.strerror or exc}"
            return self._result(product, "failed", reason=reason)
        except ClaimLost:
            return self._result(product, "skipped", reason="another process took this product over")
        return self._result(product, "downloaded", path=job.target, size=size)

    @staticmethod
    def _result(product: _Product, status: Any, **values: Any) -> ItemResult:
        job = product.job
        return ItemResult(
            job.id, job.name, status, attempts=product.requests, bytes=product.received, **values
        )

    def _part(self, product: _Product, obj: S3Object) -> PartFile:
        final = file_of(product.folder, obj.path)
        return PartFile(final.with_name(final.name + PART_SUFFIX))

    def _multipart(self, obj: S3Object) -> bool:
        return obj.size > self.multipart_threshold

    # -- steps --------------------------------------------------------------------------

    async def _product(self, product: _Product) -> int:
        objects = await self._list(product)
        await _disk(part_folder, product.folder)
        total = sum(o.size for o in objects)
        product.on_disk = await _disk(self._reconcile_sync, product, objects)
        self.sink(
            ItemStarted(
                item=product.job.id,
                name=product.job.name,
                total_bytes=total,
                resume_from=product.on_disk,
            )
        )
        by_path = {o.path: o for o in objects}
        manifest = next((by_path[n] for n in MANIFEST_NAMES if n in by_path), None)
        entries = []
        if manifest is not None:
            await self._fetch(product, [manifest])
            data = await _disk(file_of(product.folder, manifest.path).read_bytes)
            try:
                entries = parse_manifest(data, source=f"{product.job.name}/{manifest.path}")
            except VerificationError as exc:
                raise _ProductFailed(str(exc)) from None
            missing = [e.path for e in entries if e.path not in by_path]
            if missing:
                listed = ", ".join(missing[:5]) + (
                    f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                )
                raise _ProductFailed(
                    f"{product.job.name}: {manifest.path} lists {listed}, but the S3 listing "
                    f"of s3://{product.bucket}/{product.prefix}/ lacks it"
                )
        elif not product.single and product.job.name.lower().endswith(_SAFE_SUFFIXES):
            raise _ProductFailed(
                f"{product.job.name}: no manifest.safe or xfdumanifest.xml in the S3 listing"
            )
        await self._fetch(product, [o for o in objects if o is not manifest])
        if entries:
            await self._verify(product, by_path)
        elif product.single and product.job.checksums:
            await self._verify_single(product, objects[0])
        for obj in objects:
            await _disk(self._part(product, obj).sidecar.unlink, True)
        if product.single:
            final = file_of(product.folder, objects[0].path)
            await _disk(replace_path, final, product.job.target)
            await _disk(product.folder.rmdir)
        else:
            await _disk(replace_path, product.folder, product.job.target)
        return total

    async def _list(self, product: _Product) -> list[S3Object]:
        """Every object under the product's prefix; a lone object when the key is a file."""
        objects: list[S3Object] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": product.bucket, "Prefix": f"{product.prefix}/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call(product, "listing", "list_objects_v2", kwargs)
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/"):
                    continue  # folder marker
                rel = relative_path(key, product.prefix)
                if rel is None:
                    raise _ProductFailed(
                        f"{product.job.name}: object key {key!r} would land outside the folder"
                    )
                objects.append(
                    S3Object(key, rel, int(entry.get("Size", 0)), etag_of(entry.get("ETag")))
                )
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                break
        if objects:
            return objects
        try:
            head = await self._call(
                product, "object", "head_object", {"Bucket": product.bucket, "Key": product.prefix}
            )
        except _ProductFailed as exc:
            raise _ProductFailed(
                f"{product.job.name}: no objects under s3://{product.bucket}/{product.prefix}/ "
                f"({exc})"
            ) from None
        product.single = True
        name = product.prefix.rsplit("/", 1)[-1]
        return [
            S3Object(
                product.prefix,
                safe_filename(name, "object"),
                int(head.get("ContentLength", 0)),
                etag_of(head.get("ETag")),
            )
        ]

    def _reconcile_sync(self, product: _Product, objects: list[S3Object]) -> int:
        """Forget bytes on disk that belong to another version of an object; count the rest."""
        on_disk = 0
        for obj in objects:
            part = self._part(product, obj)
            final = file_of(product.folder, obj.path)
            record = part.load()
            if record.get("validator") != obj.etag or record.get("size") != obj.size:
                final.unlink(missing_ok=True)
                part.discard()
                continue
            if record.get("done") and _size_of(final) == obj.size:
                on_disk += obj.size
                continue
            final.unlink(missing_ok=True)
            if record.get("multipart", False) != self._multipart(obj):
                # Fetched in the other mode (another part threshold): its part file's layout
                # is not this mode's, start the object over.
                part.discard()
                continue
            part.update(done=False)
            if self._multipart(obj):
                done = {int(i) for i in record.get("parts", [])}
                on_disk += sum(min(self.part_size, obj.size - i * self.part_size) for i in done)
            else:
                on_disk += min(part.size(), obj.size)
        return on_disk

    async def _fetch(self, product: _Product, objects: list[S3Object]) -> None:
        """Bring every object to its final name, at most ``limits.connections`` requests at once."""
        requests: list[tuple[S3Object, int | None]] = []
        remaining: dict[str, int] = {}
        for obj in objects:
            part = self._part(product, obj)
            record = await _disk(part.load)
            final = file_of(product.folder, obj.path)
            if record.get("done") and await _disk(_size_of, final) == obj.size:
                continue
            if not record:
                record = dict(
                    validator=obj.etag,
                    size=obj.size,
                    done=False,
                    multipart=self._multipart(obj),
                    parts=[],
                )
                await _disk(lambda p=part, r=record: p.save(**r))
            if self._multipart(obj):
                done = {int(i) for i in record.get("parts", [])}
                todo = [i for i in range(math.ceil(obj.size / self.part_size)) if i not in done]
                await _disk(part.reserve, obj.size)
                if not todo:
                    # Every part arrived before the last run stopped: only the rename is left.
                    await self._complete(product, obj)
                    continue
                requests += [(obj, i) for i in todo]
                remaining[obj.path] = len(todo)
            else:
                requests.append((obj, None))
                remaining[obj.path] = 1
        pending = iter(requests)

        async def worker() -> None:
            # Workers share one iterator: a few tasks, however many objects.
            for obj, index in pending:
                await self._get(product, obj, index)
                remaining[obj.path] -= 1
                if remaining[obj.path] == 0:
                    await self._complete(product, obj)

        async with FirstErrorGroup() as group:
            for _ in range(min(self.limits.connections, len(requests))):
                group.start_soon(worker)

    async def _complete(self, product: _Product, obj: S3Object) -> None:
        part = self._part(product, obj)
        size = await _disk(part.size)
        if size != obj.size:
            raise _ProductFailed(
                f"{product.job.name}/{obj.path}: got {size} bytes, the listing says {obj.size}"
            )
        # Recorded before the rename: a whole file on disk is then always a recorded one.
        async with product.records:
            await _disk(lambda: part.update(done=True))
        final = file_of(product.folder, obj.path)
        await _disk(lambda: part.install(final, keep_record=True))

    async def _get(self, product: _Product, obj: S3Object, index: int | None) -> None:
        """One object (``index`` None) or one ranged part of it, with retries and resume."""
        part = self._part(product, obj)
        if index is None:
            start, end = 0, obj.size - 1
        else:
            start = index * self.part_size
            end = min(obj.size, start + self.part_size) - 1
        progress = 0  # bytes of this part's range already written in this run

        async def once() -> None:
            nonlocal progress
            offset = start + progress
            if index is None:
                offset = await _disk(part.size)
                if offset > obj.size:
                    offset = 0  # not this object's bytes: start over
                if offset == obj.size and obj.size:
                    return
            kwargs: dict[str, Any] = {"Bucket": product.bucket, "Key": obj.key}
            ranged = offset > 0 or index is not None
            if ranged:
                kwargs["Range"] = f"bytes={offset}-{end}"
                if obj.etag:
                    # Bytes from another version of the object must not be appended.
                    kwargs["IfMatch"] = f'"{obj.etag}"'
            async with self.requests.slot() as client:
                product.requests += 1
                response = await client.get_object(**kwargs)
                async with response["Body"] as body:
                    if ranged and response["ResponseMetadata"]["HTTPStatusCode"] != 206:
                        if index is not None:
                            raise _ProductFailed(
                                f"{product.job.name}/{obj.path}: the S3 server ignored a "
                                "Range request"
                            )
                        offset = 0  # a whole body: start the file over
                    truncate = index is None and offset == 0
                    handle = await _disk(lambda: part.open(offset, truncate=truncate))
                    room = end + 1 - offset  # what the answer may carry; never write past it
                    try:
                        async with watch_speed(self.limits) as speed:
                            while True:
                                with speed.reading():
                                    chunk = await body.read(self.limits.chunk_size)
                                if not chunk:
                                    break
                                speed.received += len(chunk)
                                over = len(chunk) > room
                                if over:
                                    chunk = chunk[:room]
                                room -= len(chunk)
                                await _disk(handle.write, chunk)
                                if index is not None:
                                    progress += len(chunk)
                                await self._progress(product, len(chunk))
                                if over:
                                    raise Retry(
                                        f"the server sent more than {end + 1 - start} bytes"
                                    )
                    finally:
                        with anyio.CancelScope(shield=True):
                            await anyio.to_thread.run_sync(handle.close)

        async def position() -> int:
            return progress if index is not None else await _disk(part.size)

        try:
            await keep_trying(
                once,
                policy=self.retry,
                sink=self.sink,
                item=product.job.id,
                position=position,
                what=f"{product.job.name}/{obj.path}",
            )
        except GaveUp as exc:
            raise _ProductFailed(_gave_up(exc), permanent=exc.permanent) from None
        product.batches.flush()
        if index is not None:
            async with product.records:
                record = await _disk(part.load)
                parts = sorted({*record.get("parts", []), index})
                await _disk(lambda: part.update(parts=parts))

    async def _progress(self, product: _Product, count: int) -> None:
        product.received += count
        product.on_disk += count
        product.batches.count(count)
        await product.batches.tell(product.on_disk)

    async def _call(self, product: _Product, what: str, method: str, kwargs: dict[str, Any]) -> Any:
        """One small request (listing, HEAD) under a budget slot, with retries."""

        async def once() -> Any:
            async with self.requests.slot() as client:
                product.requests += 1
                return await getattr(client, method)(**kwargs)

        try:
            return await keep_trying(
                once,
                policy=self.retry,
                sink=self.sink,
                item=product.job.id,
                what=f"{product.job.name}/{what}",
            )
        except GaveUp as exc:
            raise _ProductFailed(_gave_up(exc), permanent=exc.permanent) from None

    async def _verify(self, product: _Product, by_path: dict[str, S3Object]) -> None:
        """Check every manifest-listed file; bad ones are fetched again under the run's
        retry policy (the same wrong bytes every time: corrupt at the source, for good)."""
        again: list[S3Object] = []

        async def once() -> None:
            if again:
                await self._fetch(product, again)
                again.clear()
            try:
                bad = await verify_safe_dir_async(product.folder)
            except VerificationError as exc:
                raise _ProductFailed(str(exc)) from None
            for problem in bad:
                obj = by_path.get(problem.path)
                if obj is None:
                    raise _ProductFailed(f"{product.job.name}: {problem}")
                await self._forget(product, obj)
                again.append(obj)
            if bad:
                first = bad[0]
                raise VerificationError(
                    "; ".join(map(str, bad)),
                    path=first.path,
                    expected=first.expected,
                    actual=first.actual,
                )

        await self._until_verified(product, once)

    async def _verify_single(self, product: _Product, obj: S3Object) -> None:
        """A lone object against the catalogue's checksum (exact for single-object
        products), fetched again under the run's retry policy while it does not match."""
        path = file_of(product.folder, obj.path)
        stale = False

        async def once() -> None:
            nonlocal stale
            if stale:
                await self._fetch(product, [obj])
                stale = False
            digests = await anyio.to_thread.run_sync(hash_file, path, list(product.job.checksums))
            try:
                compare_checksums(product.job.checksums, digests, name=obj.path)
            except VerificationError:
                await self._forget(product, obj)
                stale = True
                raise

        await self._until_verified(product, once)

    async def _until_verified(self, product: _Product, once: Callable[[], Awaitable[None]]) -> None:
        try:
            await keep_trying(once, policy=self.retry, sink=self.sink, item=product.job.id)
        except GaveUp as exc:
            raise _ProductFailed(_gave_up(exc), permanent=exc.permanent) from None

    async def _forget(self, product: _Product, obj: S3Object) -> None:
        await _disk(self._part(product, obj).discard)
        await _disk(lambda: file_of(product.folder, obj.path).unlink(missing_ok=True))
        product.on_disk -= obj.size


def _gave_up(exc: GaveUp) -> str:
    return f"{exc.reason} (after {exc.tries} tries)" if exc.tries > 1 else exc.reason
