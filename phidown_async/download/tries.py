"""The one retry loop of a transfer: try, classify the failure, wait, try again.

HTTPS products, bursts and every S3 request go through `keep_trying`, under the run's
`RetryPolicy`. A try that moved the download forward (more bytes on disk than before it)
resets the count of failed tries: the next one resumes, so nothing was wasted. Throttling is
about the account, not the item, and uses up no try, but an item never takes more than
`MAX_TRIES_FACTOR` times the policy's tries in all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import httpx

from ..disks import is_disk_full
from ..errors import AuthError, ServiceError, VerificationError
from ..events import EventSink, RetryScheduled
from ..retry import RetryableError, RetryPolicy
from ..session import describe

MAX_TRIES_FACTOR = 4

T = TypeVar("T")


class Retry(Exception):
    """This try failed in a way another try can fix (the message says how)."""


class Refused(Exception):
    """The item cannot be fetched and another try would not help (the run goes on)."""


class GaveUp(Exception):
    """The work failed for good in this run: not worth another try, or out of tries.

    Attributes:
        reason: why, in one line.
        tries: tries made.
        permanent: no later run would do better either: the server refused the item (a
            4xx other than 408/425/429) or sent the same wrong bytes on every try.
    """

    def __init__(self, reason: str, tries: int, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries = tries
        self.permanent = permanent


def failure_reason(exc: BaseException) -> str:
    """What a failed try's result or event says about ``exc``."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no data for too long ({type(exc).__name__})"
    if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
        return f"cannot write the file: {exc.strerror or exc}"
    if isinstance(exc, Retry | Refused | VerificationError):
        return str(exc)
    return describe(exc)


def _refused_by_server(exc: BaseException) -> bool:
    """True for a client-error status: the server will answer the same tomorrow."""
    status = exc.status if isinstance(exc, ServiceError) else None
    return status is not None and 400 <= status < 500


def _corruption(exc: BaseException) -> tuple[str | None, str] | None:
    """What a wrong checksum looked like (file and digest), to spot the same one again."""
    if isinstance(exc, VerificationError) and exc.actual is not None:
        return exc.path, str(exc.actual)
    return None


def _retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    if isinstance(exc, Retry | VerificationError):
        return True  # a verification failure's bytes were discarded: the next try refetches
    if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
        return False  # the disk, not the network: another try writes to the same disk
    return policy.is_retryable(exc)


async def keep_trying(
    once: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    sink: EventSink,
    item: str,
    position: Callable[[], Awaitable[int]] | None = None,
    what: str = "",
) -> T:
    """``await once()`` until it succeeds, retrying what another try can fix.

    Args:
        once: one try.
        policy: how often and how patiently.
        sink: told of every retry (`RetryScheduled`).
        item: the Id the events name.
        position: bytes of the item on disk now; a try that moved it on is not a failure.
        what: names the part of the item the reasons are about (an S3 object's path).

    Raises:
        GaveUp: a failure another try would not fix, or the tries ran out.
        OSError: the disk is full (`disks.is_disk_full`): no item can go on.
        AuthError, Refused and any other exception: as ``once`` raised them.
    """
    tries = failures = 0
    # The same wrong bytes on every try: the source itself is corrupt.
    corrupt: tuple[str | None, str] | None = None
    same_corrupt = 0
    prefix = f"{what}: " if what else ""
    while True:
        tries += 1
        before = await position() if position else 0
        try:
            return await once()
        except AuthError:
            raise
        except (OSError, ServiceError, httpx.HTTPError, Retry, VerificationError) as exc:
            if is_disk_full(exc):
                raise  # not this item's failure: every write fails now (the run stops)
            reason = prefix + failure_reason(exc)
            if not _retryable(exc, policy):
                raise GaveUp(reason, tries, permanent=_refused_by_server(exc)) from exc
            seen = _corruption(exc)
            same_corrupt = same_corrupt + 1 if seen is not None and seen == corrupt else 1
            corrupt = seen
            moved = position is not None and await position() > before
            throttled = isinstance(exc, RetryableError) and exc.throttled
            if moved:
                failures = 0
            elif not throttled:
                failures += 1
            if failures >= policy.attempts or tries >= policy.attempts * MAX_TRIES_FACTOR:
                permanent = corrupt is not None and same_corrupt >= max(2, failures)
                raise GaveUp(reason, tries, permanent=permanent) from exc
            delay = policy.delay(max(failures, 1), exc)
            sink(RetryScheduled(item=item, attempt=tries, delay=delay, reason=reason))
            await anyio.sleep(delay)
