"""The worker pool: N workers take jobs from a bounded stream, one ledger keeps score.

The pool knows nothing about HTTP: it claims each job in the ledger, hands it to a transfer
function (HTTP products here; bursts and S3 bring their own) and records the outcome. Jobs
flow through a memory stream with room for as many jobs as there are workers, so a run of
10,000 items never has more than a handful of tasks.

Cancelling the run (Ctrl-C cancels the surrounding scope) stops every transfer where it is:
their ``.part`` files stay as resume points and their claims go back to pending.
"""

from __future__ import annotations

import errno
import functools
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from ..concurrency import FirstErrorGroup
from ..events import EventSink, ItemFailed, ItemSkipped, ItemVerified, discard
from ..ledger import Ledger, NewItem, make_owner
from .plan import Job
from .results import ItemResult, RunSummary
from .tries import failure_reason

ProgressReport = Callable[[int], Awaitable[bool]]
"""Told the bytes on disk of an item now and then; returns False when its claim was lost."""

TransferFn = Callable[[Job, ProgressReport], Awaitable[ItemResult]]
"""Fetches one job; returns its result; raises only errors that end the run."""

DoneCheck = Callable[[Job], Awaitable[bool]]
"""Whether a job the ledger has as done, its file still there, needs nothing more."""

# A full disk stops every item alike: it is the run's error, not one item's.
_RUN_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


async def _ledger(func: Callable[..., object], *args: object, **kwargs: object) -> object:
    # Ledger calls are short, but a busy SQLite file (another process writing) can make one
    # wait; never on the event loop. Shielded: the ledger must not be left half-told.
    with anyio.CancelScope(shield=True):
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))


def _still_there(path: str | None, size: int | None) -> bool:
    if not path:
        return False
    try:
        found = Path(path).lstat()
    except OSError:
        return False
    # A link put in the file's place is not the file the ledger recorded.
    return not stat.S_ISLNK(found.st_mode) and (size is None or found.st_size == size)


def _first_checksum(job: Job) -> str | None:
    for algorithm, value in job.checksums.items():
        return f"{algorithm.lower()}:{value}"
    return None


class _Run:
    """The state of one pool run (its results)."""

    def __init__(
        self,
        ledger: Ledger,
        transfer: TransferFn,
        owner: str,
        sink: EventSink,
        settled: DoneCheck | None,
    ):
        self.ledger = ledger
        self.transfer = transfer
        self.owner = owner
        self.sink = sink
        self.settled = settled
        self.results: dict[int, ItemResult] = {}

    async def _done_before(self, job: Job, path: str | None, size: int | None) -> bool:
        if not _still_there(path, size):
            return False
        return self.settled is None or await self.settled(job)

    async def process(self, index: int, job: Job) -> None:
        row = await _ledger(self.ledger.get, job.id)
        claimed = False
        if row is not None and row.state == "done":
            if await self._done_before(job, row.path, row.size):
                self.finish(
                    index,
                    ItemResult(
                        job.id,
                        job.name,
                        "skipped",
                        path=Path(row.path or job.target),
                        reason="already downloaded",
                        size=row.size,
                        checksum=row.checksum,
                    ),
                )
                return
            # Recorded done but the file is gone (or, say, not extracted yet): fetch it
            # again. A done row cannot be claimed, so this item runs without a claim.
        else:
            claimed = bool(await _ledger(self.ledger.claim, job.id, self.owner))
            if not claimed:
                self.finish(
                    index,
                    ItemResult(
                        job.id, job.name, "skipped", reason="another process is downloading it"
                    ),
                )
                return
        owner = self.owner if claimed else None

        async def report(size: int) -> bool:
            if not claimed:
                return True
            return bool(await _ledger(self.ledger.progress, job.id, size, owner=owner))

        try:
            result = await self.transfer(job, report)
        except OSError as exc:
            if exc.errno in _RUN_ERRNOS:
                if claimed:
                    await _ledger(self.ledger.release, job.id, owner=owner)
                raise
            # The file system refused this item (a name too long, a folder in the way).
            result = ItemResult(job.id, job.name, "failed", reason=failure_reason(exc))
        except BaseException:
            if claimed:
                await _ledger(self.ledger.release, job.id, owner=owner)
            raise
        if result.status == "failed":
            await _ledger(
                self.ledger.failed, job.id, result.reason or "failed", result.attempts, owner=owner
            )
        elif result.path is not None:
            await _ledger(
                self.ledger.done,
                job.id,
                result.path,
                result.size or 0,
                result.checksum,
                owner=owner,
            )
        elif claimed:
            await _ledger(self.ledger.release, job.id, owner=owner)
        self.finish(index, result)

    def finish(self, index: int, result: ItemResult) -> None:
        self.results[index] = result
        if result.status == "downloaded":
            self.sink(ItemVerified(item=result.id, path=str(result.path), size=result.size or 0))
        elif result.status == "skipped":
            self.sink(ItemSkipped(item=result.id, reason=result.reason or "skipped"))
        else:
            self.sink(
                ItemFailed(
                    item=result.id, reason=result.reason or "failed", attempts=result.attempts
                )
            )


async def run_pool(
    jobs: Iterable[Job],
    transfer: TransferFn,
    *,
    ledger: Ledger,
    workers: int = 4,
    sink: EventSink = discard,
    owner: str | None = None,
    settled: DoneCheck | None = None,
) -> RunSummary:
    """Run ``transfer`` over ``jobs`` with ``workers`` concurrent workers.

    Every job is recorded in the ledger, claimed before its transfer (skipped when another
    process holds it, or when it is done and its file is still there) and marked done or
    failed after it. Claims are heart-beaten while the run lasts.

    Args:
        jobs: the planned jobs (one per Id).
        transfer: fetches one job (e.g. `HttpTransfer`).
        ledger: the run's ledger.
        workers: items in flight at once.
        sink: receives ItemVerified, ItemSkipped and ItemFailed events.
        owner: the ledger owner id (a fresh `make_owner()` by default).
        settled: also asked before a done item is skipped (e.g. `HttpTransfer.unpacked`);
            when False, the item is given to ``transfer`` again.

    Returns:
        The outcome of every job, in input order.

    Raises:
        Whatever ``transfer`` raised that ends the run (e.g. `AuthError`, a full disk),
        after every other transfer stopped and every claim was released. Any other
        `OSError` of one item is that item's failure.
    """
    started = time.monotonic()
    planned = list(jobs)
    owner = owner or make_owner()
    await _ledger(
        ledger.add,
        [
            NewItem(
                job.id, kind=job.kind, name=job.name, size=job.size, checksum=_first_checksum(job)
            )
            for job in planned
        ],
    )
    run = _Run(ledger, transfer, owner, sink, settled)
    count = max(1, min(workers, len(planned)))
    send, receive = anyio.create_memory_object_stream[tuple[int, Job]](count)

    async def produce() -> None:
        async with send:
            for item in enumerate(planned):
                await send.send(item)

    async def work(inbox: anyio.abc.ObjectReceiveStream[tuple[int, Job]]) -> None:
        async with inbox:
            async for index, job in inbox:
                await run.process(index, job)

    async def beat() -> None:
        interval = max(0.5, min(30.0, ledger.lease / 4))
        while True:
            await anyio.sleep(interval)
            await _ledger(ledger.heartbeat, owner)

    try:
        # One error that ends the run (e.g. AuthError) stops the other workers and is
        # raised as itself once every claim is back.
        async with FirstErrorGroup() as outer:
            outer.start_soon(beat)
            async with FirstErrorGroup() as group, receive:
                group.start_soon(produce)
                for _ in range(count):
                    group.start_soon(work, receive.clone())
            outer.cancel_scope.cancel()
    finally:
        # Anything still held (cancelled mid-claim) goes back to pending.
        await _ledger(ledger.release_owner, owner)
    ordered = tuple(run.results[i] for i in sorted(run.results))
    return RunSummary(ordered, seconds=time.monotonic() - started)
