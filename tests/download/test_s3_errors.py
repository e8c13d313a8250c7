"""S3 failures map to the package's exception tree at the S3 boundary."""

from __future__ import annotations

import aiohttp
import botocore.exceptions
import pytest

from phidown_async.download.s3.client import s3_error
from phidown_async.errors import AuthError, NotFoundError, ServiceError
from phidown_async.retry import RetryableError, RetryPolicy


def client_error(code: str, status: int, retry_after: str | None = None) -> Exception:
    headers = {"retry-after": retry_after} if retry_after else {}
    return botocore.exceptions.ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} says no"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
        },
        "GetObject",
    )


def test_refused_keys_are_an_auth_error():
    error = s3_error(client_error("InvalidAccessKeyId", 403))
    assert isinstance(error, AuthError) and "S3 refused the access keys" in str(error)


def test_throttling_is_retryable_throttled_and_keeps_retry_after():
    error = s3_error(client_error("SlowDown", 503, retry_after="7"))
    assert isinstance(error, RetryableError) and error.throttled and error.retry_after == 7.0
    assert RetryPolicy().is_retryable(error)


def test_server_errors_and_dropped_connections_are_retryable_not_throttled():
    for exc in (client_error("InternalError", 500), aiohttp.ClientPayloadError("cut")):
        error = s3_error(exc)
        assert isinstance(error, RetryableError) and not error.throttled


@pytest.mark.parametrize(
    ("code", "status", "kind", "text"),
    [
        ("NoSuchKey", 404, NotFoundError, "404 NoSuchKey"),
        ("PreconditionFailed", 412, ServiceError, "the object changed on the server"),
        ("AccessDenied", 403, ServiceError, "403 AccessDenied"),
    ],
)
def test_other_answers_are_final(code, status, kind, text):
    error = s3_error(client_error(code, status))
    assert type(error) is kind and text in str(error)
    assert not RetryPolicy().is_retryable(error)


def test_anything_else_is_left_as_it_is():
    exc = KeyError("bug")
    assert s3_error(exc) is exc
