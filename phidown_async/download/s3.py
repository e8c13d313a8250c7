"""SAFE products over S3: every object of a product folder, checked against its manifest.

A ``.SAFE`` product on CDSE's S3 is a key prefix with one object per file. For each product
this module lists the prefix (ListObjectsV2), fetches the manifest (``manifest.safe`` or
``xfdumanifest.xml``) first, refuses a product whose listing lacks a file the manifest lists,
then fetches every other object concurrently, each request holding one slot of the run's
connection budget. Large objects come in ranged parts. Bytes go to ``<file>.part`` inside
``<output_dir>/<Name>.partdir``; an object gets its final name when it is whole. When all are
there, every file the manifest lists is checked (size and MD5 / SHA3-256); a bad file is
deleted and fetched again (a bounded number of times). Only then is the folder renamed to
``<output_dir>/<Name>``.

A small record next to the folder (``<Name>.s3.json``) keeps, per object, the ETag its bytes
belong to and which parts are complete, so a run that was killed fetches no complete object
again and resumes partial ones with ``Range``.

The S3 client is aiobotocore: it was measured against botocore in worker threads (see the
project report); both saturate CDSE's 20 MB/s-per-connection quota, and only the async client
can be cancelled cleanly by the run's task group.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import aiohttp
import anyio
import anyio.to_thread
import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from ..config import DEFAULT_S3_ENDPOINT, Endpoints, Limits, S3Keys
from ..errors import (
    AuthError,
    NotFoundError,
    ServiceError,
    VerificationError,
)
from ..events import EventSink, ItemStarted, RetryScheduled, discard
from ..quota import ConnectionBudget
from ..retry import RetryableStatusError, RetryPolicy
from ..session import Session
from .archive import replace_path
from .checksums import compare_checksums, expected_checksums, hash_file
from .manifest import MANIFEST_NAMES, parse_manifest, verify_safe_dir_async
from .names import safe_filename
from .plan import Job, is_missing, is_product_id, to_records
from .pool import ProgressReport
from .progress import ClaimLost, ProgressBatches, count_failure, retry_later
from .results import ItemResult, RunSummary, already_there
from .run import announce_rejected, open_ledger, open_session, run_in_order

BUCKET = "eodata"
REGION = "us-east-1"  # CDSE does not check the region; path-style addressing is what matters
PART_SUFFIX = ".part"
PARTDIR_SUFFIX = ".partdir"
RECORD_SUFFIX = ".s3.json"
DEFAULT_PART_SIZE = 32 << 20
DEFAULT_MULTIPART_THRESHOLD = 64 << 20
_SAFE_SUFFIXES = (".safe", ".sen3")
_THROTTLE_CODES = frozenset({"SlowDown", "TooManyRequests", "RequestLimitExceeded", "Throttling"})
_RETRY_CODES = frozenset({"RequestTimeout", "InternalError", "ServiceUnavailable"})
# Keys refused outright: no request of the run can succeed.
_AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
    }
)
_NETWORK_ERRORS = (
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.IncompleteReadError,
    aiohttp.ClientError,
    TimeoutError,
)


# -- paths and items ------------------------------------------------------------------------


def split_s3_path(s3_path: str) -> tuple[str, str]:
    """``(bucket, key)`` of a catalogue ``S3Path`` (``/eodata/<key>``), trailing ``/`` removed.

    Raises:
        ValueError: the path is not under ``/eodata/`` or has no key.
    """
    text = str(s3_path).strip()
    if not text.startswith(f"/{BUCKET}/"):
        raise ValueError(f"S3 path must start with /{BUCKET}/, got: {text}")
    key = text[len(BUCKET) + 2 :].strip("/")
    if not key:
        raise ValueError(f"Invalid CDSE S3 path: {text}")
    return BUCKET, key


def s3_endpoint(endpoints: Endpoints, keys: S3Keys) -> str:
    """The S3 endpoint to use: a configured ``PHIDOWN_S3_ENDPOINT`` wins over the ``.s5cfg``
    ``host_base``, which wins over CDSE's default."""
    configured = endpoints.s3_endpoint.rstrip("/")
    if configured != DEFAULT_S3_ENDPOINT:
        return configured
    return (keys.endpoint_url or DEFAULT_S3_ENDPOINT).rstrip("/")


def s3_job(entity: Mapping[str, Any], output_dir: str | Path) -> Job:
    """The job of one product entity (``Id``, ``Name``, ``S3Path``, optional ``Checksum``).

    The ledger knows it as ``s3:<Id>``, apart from the same product fetched as a zip.

    Raises:
        ValueError: the entity has no usable ``S3Path``.
    """
    bucket, key = split_s3_path(str(entity.get("S3Path") or ""))
    item_id = str(entity.get("Id") or key).strip()
    name = key.rsplit("/", 1)[-1] if is_missing(entity.get("Name")) else str(entity["Name"]).strip()
    folder = safe_filename(name, item_id)
    out = Path(output_dir)
    return Job(
        id=f"s3:{item_id}",
        name=name,
        kind="s3",
        url=f"s3://{bucket}/{key}",
        target=out / folder,
        part=out / f"{folder}{PARTDIR_SUFFIX}",
        checksums=expected_checksums(entity.get("Checksum")),
    )


# -- the per-object record ------------------------------------------------------------------


@dataclass(frozen=True)
class S3Object:
    """One object of a product: its key, path inside the product folder, size and ETag."""

    key: str
    path: str
    size: int
    etag: str | None


class _Record:
    """Per object: the ETag its bytes on disk belong to, completed parts, whether it is whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.objects: dict[str, dict[str, Any]] = {}
        self._lock = anyio.Lock()

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            objects = data.get("objects", {})
            self.objects = {k: v for k, v in objects.items() if isinstance(v, dict)}
        except (OSError, ValueError, AttributeError):
            self.objects = {}

    def dump(self) -> None:
        """Write the record to disk atomically (blocking)."""
        tmp = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps({"objects": self.objects}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    async def save(self, path: str, *, drop: bool = False, **values: Any) -> None:
        """Update one object's entry (or ``drop`` it) and persist atomically."""
        async with self._lock:
            if drop:
                self.objects.pop(path, None)
            else:
                self.objects.setdefault(path, {}).update(values)
            with anyio.CancelScope(shield=True):
                await _disk(self.dump)

    async def add_part(self, path: str, index: int) -> None:
        """Record part ``index`` of an object as complete."""
        async with self._lock:
            entry = self.objects.setdefault(path, {})
            entry["parts"] = sorted({*entry.get("parts", []), index})
            with anyio.CancelScope(shield=True):
                await _disk(self.dump)


# -- errors ---------------------------------------------------------------------------------


class _ProductFailed(Exception):
    """The product cannot be completed in this run (the message says which file and why)."""


class _DiskError(Exception):
    """Writing to the local disk failed (another try would fail the same way)."""


async def _disk(func: Callable[..., Any], *args: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(func, *args)
    except OSError as exc:
        raise _DiskError(f"cannot write the file: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class _Failure:
    retryable: bool
    message: str
    status: int | None = None
    retry_after: float | None = None
    throttle: bool = False
    auth: bool = False


def _classify(exc: BaseException) -> _Failure:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "")
        status = int(meta.get("HTTPStatusCode") or 0) or None
        text = f"S3 answered {status or '?'} {code}".strip()
        if error.get("Message"):
            text += f": {error['Message']}"
        retry_after = None
        header = (meta.get("HTTPHeaders") or {}).get("retry-after")
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float(header) if header is not None else None
        throttle = status in (429, 503) or code in _THROTTLE_CODES
        retryable = throttle or code in _RETRY_CODES or (status is not None and status >= 500)
        auth = code in _AUTH_CODES
        return _Failure(retryable, text, status, retry_after, throttle, auth)
    if isinstance(exc, _NETWORK_ERRORS):
        detail = str(exc).strip()
        return _Failure(True, f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)
    return _Failure(False, f"{type(exc).__name__}: {exc}")


# -- one product ----------------------------------------------------------------------------


@dataclass
class _Product:
    """What the requests of one product share."""

    job: Job
    bucket: str
    prefix: str
    folder: Path
    record: _Record
    batches: ProgressBatches
    single: bool = False
    received: int = 0
    on_disk: int = 0
    requests: int = 0


def _relative(key: str, prefix: str) -> str | None:
    """The object's path inside the product folder, or None when it could escape it."""
    rel = key[len(prefix) + 1 :]
    parts = rel.split("/")
    if not rel or "\\" in rel or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
        return None
    return rel


def _file(folder: Path, rel: str) -> Path:
    return folder.joinpath(*rel.split("/"))


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _prepare(path: Path, size: int) -> None:
    """Create the part file of a ranged download at its full size (keeps existing bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.truncate(size)


def _open_at(path: Path, offset: int, truncate: bool) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    if truncate:
        handle = open(path, "wb")  # noqa: SIM115 - closed by the caller
    else:
        handle = open(path, "r+b")  # noqa: SIM115 - closed by the caller
        handle.seek(offset)
    return handle


def _install(part: Path, final: Path) -> None:
    os.replace(part, final)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _installed(folder: Path) -> int | None:
    """Size of an installed product whose manifest-listed files all have their sizes, else None.

    Cheap (sizes only): the folder was verified in full before it got its name.
    """
    manifest = next((folder / n for n in MANIFEST_NAMES if (folder / n).is_file()), None)
    if manifest is None:
        return None
    try:
        entries = parse_manifest(manifest.read_bytes(), source=manifest.name)
    except (VerificationError, OSError):
        return None
    for entry in entries:
        if entry.size is not None and _size_of(_file(folder, entry.path)) != entry.size:
            return None
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class S3Transfer:
    """Fetches one product `Job` (see `s3_job`) over S3 into a verified folder.

    Args:
        client: an aiobotocore S3 client (path-style addressing, botocore retries off).
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
        self.client = client
        self.budget = budget
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
            size = await anyio.to_thread.run_sync(_installed, job.target)
            if size is not None:
                return already_there(job, size)
        record = _Record(job.part.with_name(job.target.name + RECORD_SUFFIX))
        batches = ProgressBatches(job.id, self.sink, report)
        product = _Product(job, bucket, prefix, job.part, record, batches)
        try:
            size = await self._product(product)
        except _ProductFailed as exc:
            return self._result(product, "failed", reason=str(exc))
        except _DiskError as exc:
            return self._result(product, "failed", reason=str(exc))
        except ClaimLost:
            return self._result(product, "skipped", reason="another process took this product over")
        return self._result(product, "downloaded", path=job.target, size=size)

    @staticmethod
    def _result(product: _Product, status: Any, **values: Any) -> ItemResult:
        job = product.job
        return ItemResult(
            job.id, job.name, status, attempts=product.requests, bytes=product.received, **values
        )

    # -- steps --------------------------------------------------------------------------

    async def _product(self, product: _Product) -> int:
        objects = await self._list(product)
        await _disk(product.folder.mkdir, 0o777, True, True)
        await _disk(product.record.load)
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
            data = await _disk(_file(product.folder, manifest.path).read_bytes)
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
        await _disk(_remove, product.record.path)
        if product.single:
            final = _file(product.folder, objects[0].path)
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
            page = await self._call(product, "listing", self.client.list_objects_v2, kwargs)
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/"):
                    continue  # folder marker
                rel = _relative(key, product.prefix)
                if rel is None:
                    raise _ProductFailed(
                        f"{product.job.name}: object key {key!r} would land outside the folder"
                    )
                objects.append(
                    S3Object(key, rel, int(entry.get("Size", 0)), _etag(entry.get("ETag")))
                )
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
            if not token:
                break
        if objects:
            return objects
        try:
            head = await self._call(
                product,
                "object",
                self.client.head_object,
                {"Bucket": product.bucket, "Key": product.prefix},
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
                _etag(head.get("ETag")),
            )
        ]

    def _reconcile_sync(self, product: _Product, objects: list[S3Object]) -> int:
        """Forget bytes on disk that belong to another version of an object; count the rest."""
        on_disk = 0
        for obj in objects:
            entry = product.record.objects.get(obj.path)
            same = (
                entry is not None
                and entry.get("etag") == obj.etag
                and entry.get("size") == obj.size
            )
            final = _file(product.folder, obj.path)
            part = final.with_name(final.name + PART_SUFFIX)
            if not same:
                final.unlink(missing_ok=True)
                part.unlink(missing_ok=True)
                product.record.objects.pop(obj.path, None)
                continue
            if entry.get("done") and _size_of(final) == obj.size:
                on_disk += obj.size
                continue
            entry["done"] = False
            final.unlink(missing_ok=True)
            if entry.get("multipart", False) != self._multipart(obj):
                # Fetched in the other mode (another part threshold): its part file's layout
                # is not this mode's, start the object over.
                part.unlink(missing_ok=True)
                entry.update(multipart=self._multipart(obj), parts=[])
                continue
            if self._multipart(obj):
                done = {int(i) for i in entry.get("parts", [])}
                on_disk += sum(min(self.part_size, obj.size - i * self.part_size) for i in done)
            else:
                on_disk += min(_size_of(part) or 0, obj.size)
        product.record.dump()
        return on_disk

    def _multipart(self, obj: S3Object) -> bool:
        return obj.size > self.multipart_threshold

    async def _fetch(self, product: _Product, objects: list[S3Object]) -> None:
        """Bring every object to its final name, at most ``limits.connections`` requests at once."""
        requests: list[tuple[S3Object, int | None]] = []
        remaining: dict[str, int] = {}
        for obj in objects:
            entry = product.record.objects.get(obj.path, {})
            final = _file(product.folder, obj.path)
            if entry.get("done") and await _disk(_size_of, final) == obj.size:
                continue
            if not entry:
                await product.record.save(
                    obj.path,
                    etag=obj.etag,
                    size=obj.size,
                    done=False,
                    multipart=self._multipart(obj),
                    parts=[],
                )
            if self._multipart(obj):
                done = {int(i) for i in entry.get("parts", [])}
                count = math.ceil(obj.size / self.part_size)
                todo = [i for i in range(count) if i not in done]
                await _disk(_prepare, final.with_name(final.name + PART_SUFFIX), obj.size)
                if not todo:
                    # Every part arrived before the last run stopped: only the rename is left.
                    await self._complete(product, obj)
                    continue
                requests += [(obj, i) for i in todo]
                remaining[obj.path] = len(todo)
            else:
                requests.append((obj, None))
                remaining[obj.path] = 1
        if not requests:
            return
        pending = iter(requests)
        failure: list[BaseException] = []

        async def worker(scope: anyio.CancelScope) -> None:
            for obj, part in pending:
                try:
                    await self._get(product, obj, part)
                    remaining[obj.path] -= 1
                    if remaining[obj.path] == 0:
                        await self._complete(product, obj)
                except Exception as exc:
                    failure.append(exc)
                    scope.cancel()
                    return

        async with anyio.create_task_group() as group:
            for _ in range(min(self.limits.connections, len(requests))):
                group.start_soon(worker, group.cancel_scope)
        if failure:
            raise failure[0]

    async def _complete(self, product: _Product, obj: S3Object) -> None:
        final = _file(product.folder, obj.path)
        part = final.with_name(final.name + PART_SUFFIX)
        size = await _disk(_size_of, part)
        if size != obj.size:
            raise _ProductFailed(
                f"{product.job.name}/{obj.path}: got {size} bytes, the listing says {obj.size}"
            )
        # Recorded before the rename: a whole file on disk is then always a recorded one.
        await product.record.save(obj.path, done=True)
        await _disk(_install, part, final)

    async def _get(self, product: _Product, obj: S3Object, part: int | None) -> None:
        """One object (``part`` None) or one ranged part, with retries and resume."""
        final = _file(product.folder, obj.path)
        path = final.with_name(final.name + PART_SUFFIX)
        if part is None:
            start, end = 0, obj.size - 1
        else:
            start = part * self.part_size
            end = min(obj.size, start + self.part_size) - 1
        progress = [0]  # bytes of this request's range already written in this run

        async def once() -> None:
            offset = start + progress[0]
            if part is None:
                offset = await _disk(_size_of, path) or 0
                if offset > obj.size:
                    await _disk(_remove, path)
                    offset = 0
                if offset == obj.size and obj.size:
                    return
            kwargs: dict[str, Any] = {"Bucket": product.bucket, "Key": obj.key}
            ranged = offset > 0 or part is not None
            if ranged:
                kwargs["Range"] = f"bytes={offset}-{end}"
                if obj.etag:
                    # Bytes from another version of the object must not be appended.
                    kwargs["IfMatch"] = f'"{obj.etag}"'
            async with self.budget.slot():
                product.requests += 1
                response = await self.client.get_object(**kwargs)
                async with response["Body"] as body:
                    if ranged and response["ResponseMetadata"]["HTTPStatusCode"] != 206:
                        if part is not None:
                            raise _ProductFailed(
                                f"{product.job.name}/{obj.path}: the S3 server ignored a "
                                "Range request"
                            )
                        offset = 0  # a whole body: start the file over
                    handle = await _disk(_open_at, path, offset, part is None and offset == 0)
                    try:
                        while chunk := await body.read(self.limits.chunk_size):
                            await _disk(handle.write, chunk)
                            if part is not None:
                                progress[0] += len(chunk)
                            await self._progress(product, len(chunk))
                    finally:
                        with anyio.CancelScope(shield=True):
                            await anyio.to_thread.run_sync(handle.close)
            self.budget.succeeded()

        before = [0]

        def moved() -> bool:
            now = progress[0] if part is not None else (_size_of(path) or 0)
            moved_on, before[0] = now > before[0], now
            return moved_on

        before[0] = progress[0] if part is not None else (await _disk(_size_of, path) or 0)
        await self._retrying(product, obj.path, once, moved=moved)
        if part is not None:
            await product.record.add_part(obj.path, part)

    async def _progress(self, product: _Product, count: int) -> None:
        product.received += count
        product.on_disk += count
        product.batches.count(count)
        await product.batches.tell(product.on_disk)

    async def _call(
        self,
        product: _Product,
        what: str,
        func: Callable[..., Awaitable[Any]],
        kwargs: dict[str, Any],
    ) -> Any:
        """One small request (listing, HEAD) under a budget slot, with retries."""
        result: list[Any] = []

        async def once() -> None:
            async with self.budget.slot():
                product.requests += 1
                result.append(await func(**kwargs))
            self.budget.succeeded()

        await self._retrying(product, what, once)
        return result[-1]

    async def _retrying(
        self,
        product: _Product,
        what: str,
        once: Callable[[], Awaitable[None]],
        *,
        moved: Callable[[], bool] | None = None,
    ) -> None:
        """Run ``once`` until it succeeds, retrying what another try can fix.

        Throttling lowers the budget and does not use up tries; a try that moved the
        download forward resets the count (the next one resumes).

        Raises:
            AuthError: the keys are refused.
            _ProductFailed: not retryable, or out of tries (names ``what``).
        """
        policy = self.retry
        tries = failures = 0
        while True:
            tries += 1
            try:
                await once()
                product.batches.flush()
                return
            except (_ProductFailed, ClaimLost, _DiskError):
                raise
            except Exception as exc:
                failure = _classify(exc)
                if failure.throttle:
                    self.budget.throttle(failure.retry_after, reason=failure.message)
                if failure.auth:
                    raise AuthError(
                        f"S3 refused the access keys: {failure.message}", status=failure.status
                    ) from None
                if failure.status == 412:
                    # IfMatch failed: the object was replaced since it was listed. The next
                    # run lists it again and drops the bytes of the old version.
                    raise _ProductFailed(
                        f"{product.job.name}/{what}: the object changed on the server during "
                        "the download; run again to fetch the new version"
                    ) from None
                if not failure.retryable:
                    raise _ProductFailed(f"{product.job.name}/{what}: {failure.message}") from None
                progressed = moved is not None and await anyio.to_thread.run_sync(moved)
                failures = count_failure(failures, moved=progressed, throttled=failure.throttle)
                if not await retry_later(
                    self.sink,
                    product.job.id,
                    policy,
                    tries=tries,
                    failures=failures,
                    error=RetryableStatusError(failure.status or 0, failure.retry_after),
                    reason=f"{what}: {failure.message}",
                ):
                    raise _ProductFailed(
                        f"{product.job.name}/{what}: {failure.message} (after {tries} tries)"
                    ) from None

    async def _verify(self, product: _Product, by_path: dict[str, S3Object]) -> None:
        """Check every manifest-listed file; fetch bad ones again, a bounded number of times."""
        fetches: dict[str, int] = {}
        while True:
            try:
                bad = await verify_safe_dir_async(product.folder)
            except VerificationError as exc:
                raise _ProductFailed(str(exc)) from None
            if not bad:
                return
            again: list[S3Object] = []
            for problem in bad:
                obj = by_path.get(problem.path)
                count = fetches.get(problem.path, 1)
                if obj is None or count >= self.retry.attempts:
                    raise _ProductFailed(f"{product.job.name}: {problem} (fetched {count} times)")
                fetches[problem.path] = count + 1
                self.sink(
                    RetryScheduled(
                        item=product.job.id,
                        attempt=count,
                        delay=0.0,
                        reason=f"{problem}; fetching it again",
                    )
                )
                await self._forget(product, obj)
                again.append(obj)
            await self._fetch(product, again)

    async def _forget(self, product: _Product, obj: S3Object) -> None:
        final = _file(product.folder, obj.path)
        await product.record.save(obj.path, drop=True)
        await _disk(_remove, final)
        await _disk(_remove, final.with_name(final.name + PART_SUFFIX))
        product.on_disk -= obj.size

    async def _verify_single(self, product: _Product, obj: S3Object) -> None:
        """A lone object against the catalogue's checksum (exact for single-object products)."""
        path = _file(product.folder, obj.path)
        for attempt in range(1, self.retry.attempts + 1):
            digests = await anyio.to_thread.run_sync(hash_file, path, list(product.job.checksums))
            try:
                compare_checksums(product.job.checksums, digests, name=obj.path)
                return
            except VerificationError as exc:
                if attempt == self.retry.attempts:
                    raise _ProductFailed(f"{exc} (fetched {attempt} times)") from None
            await self._forget(product, obj)
            await self._fetch(product, [obj])


def _etag(value: Any) -> str | None:
    text = str(value or "").strip().strip('"')
    return text or None


# -- bulk -----------------------------------------------------------------------------------


async def _resolve(session: Session, text: str) -> dict[str, Any]:
    """The catalogue entity of a product Id or Name."""
    base = session.endpoints.products_url
    if is_product_id(text):
        return await session.get_json(f"{base}({quote(text, safe='-')})")
    name = text.replace("'", "''")
    page = await session.get_json(base, {"$filter": f"Name eq '{name}'", "$top": "1"})
    found = page.get("value") or []
    if not found:
        raise NotFoundError(f"No product found with name: {text}")
    return found[0]


async def plan_s3(
    items: Any, output_dir: str | Path, session: Session
) -> tuple[list[tuple[int, Job]], list[tuple[int, ItemResult]]]:
    """Jobs for products (DataFrame rows, entity dicts, or Ids/names looked up in the catalogue).

    Returns:
        ``(jobs, rejected)`` with input positions; an item without a usable ``S3Path`` or
        not found in the catalogue is a failed result. Duplicate Ids are dropped.
    """
    jobs: list[tuple[int, Job]] = []
    rejected: list[tuple[int, ItemResult]] = []
    seen: set[str] = set()
    for index, record in enumerate(to_records(items)):
        if isinstance(record, str):
            try:
                record = await _resolve(session, record.strip())
            except ServiceError as exc:
                rejected.append((index, ItemResult(record, record, "failed", reason=str(exc))))
                continue
        if not isinstance(record, Mapping):
            raise TypeError(f"cannot download {type(record).__name__!r} items over S3")
        name = "" if is_missing(record.get("Name")) else str(record["Name"])
        label = name or str(record.get("Id") or "")
        if is_missing(record.get("S3Path")):
            rejected.append(
                (
                    index,
                    ItemResult(
                        str(record.get("Id") or ""), label, "failed", reason="No S3Path found"
                    ),
                )
            )
            continue
        try:
            job = s3_job(record, output_dir)
        except ValueError as exc:
            rejected.append(
                (index, ItemResult(str(record.get("Id") or ""), label, "failed", reason=str(exc)))
            )
            continue
        if job.id in seen:
            continue
        seen.add(job.id)
        jobs.append((index, job))
    return jobs, rejected


def s3_client(endpoint: str, keys: S3Keys, limits: Limits) -> Any:
    """An aiobotocore S3 client context manager for CDSE: path-style, no botocore retries.

    Retries belong to the engine (its policy and connection budget), not to botocore.
    """
    config = AioConfig(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=limits.timeout,
        read_timeout=limits.timeout,
        max_pool_connections=limits.connections,
    )
    return get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=keys.access_key,
        aws_secret_access_key=keys.secret_key,
        config=config,
    )


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
    sink: EventSink = discard,
    part_size: int = DEFAULT_PART_SIZE,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
) -> RunSummary:
    """Download products as SAFE folders from CDSE's S3, each verified against its manifest.

    Args:
        items: a DataFrame from a search, entity dicts (``Id``, ``Name``, ``S3Path``), or
            product Ids / names (looked up in the catalogue).
        output_dir: where ``<Name>`` folders are created.
        keys: the S3 access keys; by default `S3Keys.find` reads ``./.s5cfg`` or the
            ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` variables (never prompts).
        session: a session to share (its budget, retry policy and endpoints are used); by
            default one is opened for this call (no CDSE account needed).
        endpoints: default `Endpoints.from_env`; the S3 endpoint is chosen by `s3_endpoint`.
        limits: connections (shared by all requests), workers (products in flight), chunk
            size, timeout (a given session's own limits take precedence).
        retry: the per-request retry policy; ignored with ``session``.
        ledger_path: the SQLite ledger (default ``<output_dir>/.phidown_ledger.sqlite``);
            items are recorded as ``s3:<Id>``.
        sink: receives progress, retry and outcome events.
        part_size, multipart_threshold: objects above the threshold come in ranged parts.

    Returns:
        Every item's outcome in input order; a downloaded result's ``path`` is the product
        folder.

    Raises:
        CredentialsError: no keys given and none found.
        AuthError: the S3 keys are refused.
        TypeError: an item is neither a dict nor a string.

    Example:
        keys = S3Keys.find(".s5cfg")
        summary = await download_products_s3(frame, "/data", keys=keys)
    """
    keys = keys or S3Keys.require()
    out = Path(output_dir).absolute()
    await anyio.to_thread.run_sync(lambda: out.mkdir(parents=True, exist_ok=True))
    async with contextlib.AsyncExitStack() as stack:
        session = open_session(stack, session, endpoints, None, limits, retry, sink, account=False)
        planned, rejected = await plan_s3(items, out, session)
        announce_rejected(sink, (result for _, result in rejected))
        ledger = await open_ledger(stack, ledger_path, out)
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
            planned, rejected, transfer, ledger=ledger, workers=session.limits.workers, sink=sink
        )
