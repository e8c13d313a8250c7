"""The worker pool: N workers take jobs from a bounded stream, one ledger keeps score.

The pool knows nothing about HTTP: it claims each job in the ledger, hands it to a transfer
function (HTTP products here; bursts and S3 bring their own) and records the outcome. Jobs
flow through a memory stream with room for as many jobs as there are workers, so a run of
10,000 items never has more than a handful of tasks.

Cancelling the run (Ctrl-C cancels the surrounding scope) stops every transfer where it is:
their ``.part`` files stay as resume points and their claims go back to pending. So does a
full disk, which ends the run with `DiskFullError`.

An item another process holds (two runs on one folder) is not a failure: the run waits for
its holder to finish or let go, then skips it as done or takes it over.
"""

from __future__ import annotations

import contextlib
import functools
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from ..concurrency import FirstErrorGroup
from ..disks import disk_full, is_disk_full
from ..errors import DiskFullError, PhidownError
from ..events import EventSink, ItemFailed, ItemSkipped, ItemVerified, ItemWaiting, discard
from ..ledger import Ledger, NewItem
from ..owners import describe_owner, make_owner
from .plan import Job
from .results import ItemResult, RunSummary
from .tries import failure_reason

ProgressReport = Callable[[int], Awaitable[bool]]
"""Told the bytes on disk of an item now and then; returns False when its claim was lost."""

TransferFn = Callable[[Job, ProgressReport], Awaitable[ItemResult]]
"""Fetches one job; returns its result; raises only errors that end the run."""

DoneCheck = Callable[[Job], Awaitable[bool]]
"""Whether a job the ledger has as done, its file still there, needs nothing more."""

#: Seconds between looks at the ledger while waiting for items another process holds.
HELD_POLL = 1.0


async def _ledger(func: Callable[..., object], *args: object, **kwargs: object) -> object:
    # Ledger calls are short, but a busy SQLite file (another process writing) can make one
    # wait; never on the event loop. Shielded: the ledger must not be left half-told.
    with anyio.CancelScope(shield=True):
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))


def still_there(path: str | None, size: int | None) -> bool:
    """True when the file a ledger row names is in place: not a link, of its size if known."""
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
    """The state of one pool run: its results and the items another process holds."""

    def __init__(
        self,
        ledger: Ledger,
        transfer: TransferFn,
        owner: str,
        sink: EventSink,
        settled: DoneCheck | None,
        wait: bool,
    ):
        self.ledger = ledger
        self.transfer = transfer
        self.owner = owner
        self.sink = sink
        self.settled = settled
        self.wait = wait
        self.results: dict[int, ItemResult] = {}
        # (input position, job, its holder when last seen)
        self.held: list[tuple[int, Job, str | None]] = []
        self._told: set[str] = set()

    async def _done_before(self, job: Job, path: str | None, size: int | None) -> bool:
        if not still_there(path, size):
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
                await self.hold(index, job)
                return
        owner = self.owner if claimed else None

        async def report(size: int) -> bool:
            if not claimed:
                return True
            return bool(await _ledger(self.ledger.progress, job.id, size, owner=owner))

        try:
            result = await self.transfer(job, report)
        except OSError as exc:
            if not is_disk_full(exc):
                # The file system refused this item (a name too long, a folder in the way).
                result = ItemResult(job.id, job.name, "failed", reason=failure_reason(exc))
            else:
                await self._give_back(job, claimed, owner)
                raise disk_full(job.part) from exc
        except BaseException:
            await self._give_back(job, claimed, owner)
            raise
        if result.status == "failed":
            await _ledger(
                self.ledger.failed,
                job.id,
                result.reason or "failed",
                result.attempts,
                owner=owner,
                account=result.account,
            )
        elif result.path is not None:
            await _ledger(
                self.ledger.done,
                job.id,
                result.path,
                result.size or 0,
                result.checksum,
                owner=owner,
                account=result.account,
            )
        elif claimed:
            # Skipped without a file: another process took the item over mid-transfer.
            # Wait for it like for any item another process holds (our claim, if any is
            # left, goes back first).
            await _ledger(self.ledger.release, job.id, owner=owner)
            await self.hold(index, job)
            return
        self.finish(index, result)

    async def _give_back(self, job: Job, claimed: bool, owner: str | None) -> None:
        """Release the claim of an item whose transfer raised."""
        if claimed:
            # The first error is the one to tell: a ledger that fails now too (a full
            # disk) must not hide it. An unreleased claim expires with this process.
            with contextlib.suppress(PhidownError):
                await _ledger(self.ledger.release, job.id, owner=owner)

    async def hold(self, index: int, job: Job) -> None:
        """Set aside an item another process holds (telling the sink once, when waiting)."""
        holder = await _ledger(self.ledger.holder, job.id)
        self.held.append((index, job, holder))
        if self.wait and holder and job.id not in self._told:
            self._told.add(job.id)
            self.sink(ItemWaiting(item=job.id, holder=describe_owner(holder)))

    async def ready(self) -> list[tuple[int, Job]]:
        """The held items whose holder let go (done, released, failed or expired); the others
        stay held."""
        ready, still = [], []
        for index, job, _ in self.held:
            holder = await _ledger(self.ledger.holder, job.id)
            if holder is None or holder == self.owner:
                ready.append((index, job))
            else:
                still.append((index, job, holder))
        self.held = still
        return ready

    def leave_held(self) -> None:
        """Report every held item as skipped, naming its holder."""
        for index, job, holder in self.held:
            reason = f"held by {describe_owner(holder or '')}"
            self.finish(index, ItemResult(job.id, job.name, "skipped", reason=reason))
        self.held = []

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
    wait: bool = True,
) -> RunSummary:
    """Run ``transfer`` over ``jobs`` with ``workers`` concurrent workers.

    Every job is recorded in the ledger, claimed before its transfer (skipped when it is
    done and its file is still there) and marked done or failed after it. Claims are
    heart-beaten while the run lasts. Jobs another process holds wait until every other
    job is through; then, with ``wait``, the ledger is polled until their holder lets go
    (each is then skipped as done, or taken over); without it they are skipped.

    Args:
        jobs: the planned jobs (one per Id).
        transfer: fetches one job (e.g. `HttpTransfer`).
        ledger: the run's ledger.
        workers: items in flight at once.
        sink: receives ItemWaiting, ItemVerified, ItemSkipped and ItemFailed events.
        owner: the ledger owner id (a fresh `make_owner()` by default).
        settled: also asked before a done item is skipped (e.g. `HttpTransfer.unpacked`);
            when False, the item is given to ``transfer`` again.
        wait: wait for the jobs another process holds (else skip them).

    Returns:
        The outcome of every job, in input order.

    Raises:
        DiskFullError: no space left (its ``pending`` counts the jobs left without an
            outcome); every ``.part`` is kept.
        Whatever ``transfer`` raised that ends the run (e.g. `AuthError`), after every
        other transfer stopped and every claim was released. Any other `OSError` of one
        item is that item's failure.
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
    run = _Run(ledger, transfer, owner, sink, settled, wait)

    async def work_through(items: list[tuple[int, Job]]) -> None:
        count = max(1, min(workers, len(items)))
        send, receive = anyio.create_memory_object_stream[tuple[int, Job]](count)

        async def produce() -> None:
            async with send:
                for item in items:
                    await send.send(item)

        async def work(inbox: anyio.abc.ObjectReceiveStream[tuple[int, Job]]) -> None:
            async with inbox:
                async for index, job in inbox:
                    await run.process(index, job)

        async with FirstErrorGroup() as group, receive:
            group.start_soon(produce)
            for _ in range(count):
                group.start_soon(work, receive.clone())

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
            await work_through(list(enumerate(planned)))
            while run.held and wait:
                await anyio.sleep(HELD_POLL)
                await work_through(await run.ready())
            run.leave_held()
            outer.cancel_scope.cancel()
    except DiskFullError as exc:
        await _release_quietly(ledger, owner)
        raise DiskFullError(exc.device, pending=len(planned) - len(run.results)) from exc
    except BaseException:
        await _release_quietly(ledger, owner)
        raise
    # Anything still held (cancelled mid-claim) goes back to pending.
    await _ledger(ledger.release_owner, owner)
    ordered = tuple(run.results[i] for i in sorted(run.results))
    return RunSummary(ordered, seconds=time.monotonic() - started)


async def _release_quietly(ledger: Ledger, owner: str) -> None:
    # The run is already ending with an error: a ledger that fails now too (a full disk)
    # must not hide it. Claims left behind expire with this process.
    with contextlib.suppress(PhidownError):
        await _ledger(ledger.release_owner, owner)
