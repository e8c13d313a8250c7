"""Retry policy: which failures are worth another try, and how long to wait before it.

A `RetryPolicy` is a frozen value. `policy.retrying()` turns it into a `tenacity.AsyncRetrying`
that retries what `policy.is_retryable` accepts, backs off exponentially with jitter, and waits
at least as long as the server asked (``Retry-After``) when the failure carries that request.

Example:
    >>> policy = RetryPolicy(attempts=3, initial_delay=0.5, jitter=0.0)
    >>> policy.delay(2)  # seconds to wait after the second try failed
    1.0
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from .errors import ConfigError, ServiceError

if TYPE_CHECKING:
    import tenacity

# httpx, tenacity and anyio are imported where they are used: the command line reads this
# module's defaults for its --help, which must not wait for them.

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

OnRetry = Callable[[int, float, BaseException], None]
"""Called before each sleep with (failed attempt number, 1-based; delay in seconds; error)."""


class RetryableError(ServiceError):
    """A failure that another try may fix: a dropped connection, a throttle, a 5xx.

    Attributes:
        retry_after: seconds the server asked us to wait (``Retry-After``), or None.
        throttled: the service said the account sends too much (429, S3 ``SlowDown``):
            such a failure is about the account, not the item, and uses up none of its tries.
        status, code, url: as in `ServiceError`.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        throttled: bool = False,
        status: int | None = None,
        code: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, url=url)
        self.retry_after = retry_after
        self.throttled = throttled


class RetryableStatusError(RetryableError):
    """CDSE answered with a status that another try may fix (429, 503, other 5xx, ...)."""

    def __init__(
        self,
        status: int,
        retry_after: float | None = None,
        url: str | None = None,
        *,
        code: str | None = None,
        message: str | None = None,
        throttled: bool | None = None,
    ) -> None:
        text = message or f"CDSE answered {status}" + (f" for {url}" if url else "")
        super().__init__(
            text,
            retry_after=retry_after,
            throttled=status == 429 if throttled is None else throttled,
            status=status,
            code=code,
            url=url,
        )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value (delta-seconds or an HTTP date).

    Args:
        value: the raw header value, or None.
        now: the current time for HTTP dates (defaults to the system clock, UTC).

    Returns:
        A non-negative number of seconds, or None when the value is absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def is_retryable(exc: BaseException, statuses: frozenset[int] = RETRYABLE_STATUSES) -> bool:
    """True when another try could succeed where ``exc`` failed.

    Retryable: `RetryableStatusError` and `httpx.HTTPStatusError` with a status in ``statuses``;
    any other `RetryableError`; timeouts, network errors (connect, read, write, close) and
    the server breaking the protocol (e.g. closing the connection mid-body). Everything else
    (400, 401 after a refresh, 403, 404, 422, our own bugs) is not.
    """
    if isinstance(exc, RetryableStatusError):
        return exc.status in statuses
    if isinstance(exc, RetryableError):
        return True
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in statuses
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    The wait before try ``n + 1`` is ``min(max_delay, initial_delay * multiplier ** (n - 1))``
    plus a random ``[0, jitter)`` seconds; when the failure carries ``Retry-After`` the wait is
    at least that (capped at ``max_retry_after``, so a hostile header cannot stall a run).
    phidown's ``retry_count``, ``backoff_base`` and ``backoff_max`` map to ``attempts``,
    ``initial_delay`` and ``max_delay``.

    Attributes:
        attempts: total tries, the first included (1 = never retry).
        initial_delay: seconds before the second try.
        max_delay: cap of the exponential back-off.
        multiplier: growth of the back-off per failed try.
        jitter: upper bound of the random seconds added to every wait.
        statuses: HTTP statuses worth retrying.
        max_retry_after: cap on a server-requested wait.

    Raises:
        ConfigError: a value is out of range.
    """

    attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5
    statuses: frozenset[int] = RETRYABLE_STATUSES
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigError(f"RetryPolicy.attempts must be an integer, got {self.attempts!r}")
        if self.attempts < 1:
            raise ConfigError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        for name in ("initial_delay", "max_delay", "jitter", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"RetryPolicy.{name} must not be negative")
        if self.multiplier < 1:
            raise ConfigError(f"RetryPolicy.multiplier must be at least 1, got {self.multiplier}")
        object.__setattr__(self, "statuses", frozenset(self.statuses))

    def is_retryable(self, exc: BaseException) -> bool:
        """True when ``exc`` is worth another try under this policy's statuses."""
        return is_retryable(exc, self.statuses)

    def is_retryable_status(self, status: int) -> bool:
        """True when an HTTP ``status`` is worth another try."""
        return status in self.statuses

    def delay(self, failed_attempt: int, exc: BaseException | None = None) -> float:
        """Seconds to wait after try number ``failed_attempt`` (1-based) failed with ``exc``."""
        exponent = max(0, failed_attempt - 1)
        try:
            backoff = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        except OverflowError:
            backoff = self.max_delay
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            backoff = max(backoff, min(float(retry_after), self.max_retry_after))
        return backoff + (random.uniform(0.0, self.jitter) if self.jitter else 0.0)

    def retrying(
        self,
        on_retry: OnRetry | None = None,
        *,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> tenacity.AsyncRetrying:
        """A fresh `tenacity.AsyncRetrying` for one operation under this policy.

        Args:
            on_retry: told about every retry before its wait (attempt, delay, error).
            sleep: the async sleep to use (anyio.sleep by default; tests pass a recorder).

        The last error is re-raised unchanged when the tries run out or it is not retryable.

        Example:
            async for attempt in policy.retrying():
                with attempt:
                    await fetch()
        """
        import anyio
        import tenacity

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.delay(state.attempt_number, exc)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is None or state.outcome is None:
                return
            delay = state.next_action.sleep if state.next_action else 0.0
            on_retry(state.attempt_number, delay, state.outcome.exception())

        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(self.is_retryable),
            before_sleep=before_sleep,
            sleep=sleep or anyio.sleep,
            reraise=True,
        )
