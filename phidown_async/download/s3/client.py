"""The S3 boundary: the client, its failures mapped to the exception tree, the budget.

The client is aiobotocore (measured against botocore in worker threads: both saturate CDSE's
20 MB/s-per-connection quota, and only the async client can be cancelled cleanly by the
run's task group), with botocore's own retries off: retries belong to the engine's policy
and connection budget. Every request holds one slot of the run's budget, and a throttling
answer lowers it, as for HTTPS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ...config import Limits, S3Keys
from ...errors import AuthError, NotFoundError, ServiceError
from ...extras import needs
from ...quota import ConnectionBudget
from ...retry import RetryableError, parse_retry_after

with needs("s3", "S3 downloads"):
    import aiohttp
    import botocore.exceptions
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

REGION = "us-east-1"  # CDSE does not check the region; path-style addressing is what matters
_THROTTLE_CODES = frozenset({"SlowDown", "TooManyRequests", "RequestLimitExceeded", "Throttling"})
_RETRY_CODES = frozenset({"RequestTimeout", "InternalError", "ServiceUnavailable"})
# Keys refused outright: no request of the run can succeed.
_AUTH_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
_NETWORK_ERRORS = (
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.IncompleteReadError,
    aiohttp.ClientError,
    TimeoutError,
)


def s3_client(endpoint: str, keys: S3Keys, limits: Limits) -> Any:
    """An aiobotocore S3 client context manager for CDSE: path-style, no botocore retries."""
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


def s3_error(exc: BaseException) -> BaseException:
    """The package's exception for a botocore or aiohttp failure; others come back as they are.

    Refused keys are an `AuthError`; a failed ``If-Match`` (412: the object was replaced
    since it was listed) a `ServiceError` saying so; throttling, 5xx and dropped connections
    a `RetryableError`; 404 a `NotFoundError`; anything else a `ServiceError`.
    """
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "") or None
        status = int(meta.get("HTTPStatusCode") or 0) or None
        text = f"S3 answered {status or '?'} {code or ''}".strip()
        if error.get("Message"):
            text += f": {error['Message']}"
        if code in _AUTH_CODES:
            return AuthError(f"S3 refused the access keys: {text}", status=status, code=code)
        if status == 412:
            return ServiceError(
                "the object changed on the server during the download; run again to fetch "
                "the new version",
                status=status,
                code=code,
            )
        throttled = status in (429, 503) or code in _THROTTLE_CODES
        if throttled or code in _RETRY_CODES or (status is not None and status >= 500):
            retry_after = parse_retry_after((meta.get("HTTPHeaders") or {}).get("retry-after"))
            return RetryableError(
                text, retry_after=retry_after, throttled=throttled, status=status, code=code
            )
        if status == 404:
            return NotFoundError(text, status=status, code=code)
        return ServiceError(text, status=status, code=code)
    if isinstance(exc, _NETWORK_ERRORS):
        detail = str(exc).strip()
        return RetryableError(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)
    return exc


class S3Requests:
    """The run's S3 client behind its connection budget.

    Args:
        client: an open `s3_client`.
        budget: the run's connection budget.
    """

    def __init__(self, client: Any, budget: ConnectionBudget) -> None:
        self.client = client
        self.budget = budget

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Any]:
        """Hold one budget slot for a request sent with the yielded client; its failure is
        raised as `s3_error` maps it, and a throttle lowers the budget."""
        async with self.budget.slot():
            try:
                yield self.client
            except Exception as exc:
                error = s3_error(exc)
                if isinstance(error, RetryableError) and error.throttled:
                    self.budget.throttle(error.retry_after, reason=str(error))
                if error is exc:
                    raise
                raise error from None
        self.budget.succeeded()
