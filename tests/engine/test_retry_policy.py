"""RetryPolicy: classification, back-off, Retry-After and the tenacity loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from phidown_async.errors import ConfigError, NotFoundError, ServiceError
from phidown_async.retry import (
    RETRYABLE_STATUSES,
    RetryableStatusError,
    RetryPolicy,
    is_retryable,
    parse_retry_after,
)

REQUEST = httpx.Request("GET", "https://download.test/odata/v1/Products(x)/$value")
FAST = RetryPolicy(attempts=4, initial_delay=1.0, max_delay=5.0, multiplier=2.0, jitter=0.0)


class Recorder:
    """Stands in for the sleep function: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Operation:
    """Fails with ``failures`` in turn, then returns "ok"; counts its calls."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= len(self.failures):
            raise self.failures[self.calls - 1]
        return "ok"


async def run(policy: RetryPolicy, operation: Operation, on_retry=None) -> tuple[str, list]:
    """Run ``operation`` under ``policy``; return its result and the waits asked for."""
    sleep = Recorder()
    async for attempt in policy.retrying(on_retry, sleep=sleep):
        with attempt:
            result = await operation()
    return result, sleep.waits


def test_retry_after_seconds_and_http_dates():
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_retryable_statuses(status):
    assert is_retryable(RetryableStatusError(status, url="https://x.test/"))
    response = httpx.Response(status, request=REQUEST)
    assert is_retryable(httpx.HTTPStatusError("boom", request=REQUEST, response=response))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retryable(status):
    response = httpx.Response(status, request=REQUEST)
    assert not is_retryable(httpx.HTTPStatusError("no", request=REQUEST, response=response))
    assert not is_retryable(ServiceError("no", status=status))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused", request=REQUEST), True),
        (httpx.ReadTimeout("slow", request=REQUEST), True),
        (httpx.ReadError("reset by peer", request=REQUEST), True),
        (httpx.RemoteProtocolError("closed mid-body", request=REQUEST), True),
        (httpx.PoolTimeout("pool", request=REQUEST), True),
        (httpx.LocalProtocolError("our bug", request=REQUEST), False),
        (httpx.UnsupportedProtocol("ftp", request=REQUEST), False),
        (NotFoundError("gone", status=404), False),
        (ValueError("bad"), False),
    ],
)
def test_transport_errors(exc, expected):
    assert is_retryable(exc) is expected


def test_custom_statuses_narrow_what_is_retried():
    policy = RetryPolicy(statuses=frozenset({503}))
    assert policy.is_retryable(RetryableStatusError(503))
    assert not policy.is_retryable(RetryableStatusError(500))
    assert policy.is_retryable_status(503) and not policy.is_retryable_status(429)


def test_backoff_grows_and_is_capped():
    assert [FAST.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_within_its_bound():
    policy = RetryPolicy(initial_delay=1.0, jitter=0.5)
    waits = [policy.delay(1) for _ in range(200)]
    assert all(1.0 <= w <= 1.5 for w in waits)
    assert len(set(waits)) > 1


def test_retry_after_wins_over_a_shorter_backoff_and_is_capped():
    assert FAST.delay(1, RetryableStatusError(429, retry_after=12.0)) == 12.0
    assert FAST.delay(3, RetryableStatusError(429, retry_after=0.0)) == 4.0
    capped = RetryPolicy(jitter=0.0, max_retry_after=30.0)
    assert capped.delay(1, RetryableStatusError(503, retry_after=86400.0)) == 30.0


@pytest.mark.parametrize(
    "bad",
    [
        {"attempts": 0},
        {"attempts": True},
        {"initial_delay": -1},
        {"multiplier": 0.5},
        {"jitter": -0.1},
    ],
)
def test_invalid_policies_are_rejected(bad):
    with pytest.raises(ConfigError):
        RetryPolicy(**bad)


async def test_retries_transient_errors_then_succeeds():
    events = []
    operation = Operation(
        [httpx.ConnectError("refused", request=REQUEST), RetryableStatusError(502, url="https://x")]
    )
    result, waits = await run(FAST, operation, lambda *args: events.append(args))
    assert (result, operation.calls, waits) == ("ok", 3, [1.0, 2.0])
    assert [(attempt, delay) for attempt, delay, _ in events] == [(1, 1.0), (2, 2.0)]
    assert isinstance(events[1][2], RetryableStatusError)


async def test_gives_up_after_the_configured_attempts():
    operation = Operation([RetryableStatusError(503, url="https://x.test/") for _ in range(10)])
    with pytest.raises(RetryableStatusError) as caught:
        await run(FAST, operation)
    assert caught.value.status == 503
    assert operation.calls == FAST.attempts == 4


async def test_honours_retry_after_between_tries():
    operation = Operation([RetryableStatusError(429, retry_after=9.0, url="https://x.test/")])
    result, waits = await run(FAST, operation)
    assert (result, operation.calls, waits) == ("ok", 2, [9.0])


async def test_does_not_retry_not_found():
    operation = Operation([NotFoundError("no such product", status=404)])
    with pytest.raises(NotFoundError):
        await run(FAST, operation)
    assert operation.calls == 1


async def test_single_attempt_policy_never_retries():
    operation = Operation([httpx.ConnectError("refused", request=REQUEST)])
    with pytest.raises(httpx.ConnectError):
        await run(RetryPolicy(attempts=1), operation)
    assert operation.calls == 1
