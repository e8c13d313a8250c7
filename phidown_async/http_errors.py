"""HTTP answers -> the package's exception tree, in one place.

Every HTTP boundary of the engine (catalogue and download requests in `session`, token grants
in `auth`, bodies placed by the transfers) turns an answer it cannot use into an exception
here, so one status always means one kind of error: a retryable status is a
`RetryableStatusError` (with ``Retry-After``), 401 an `AuthError`, 404 a `NotFoundError`,
anything else a `ServiceError`.
"""

from __future__ import annotations

import httpx

from .errors import AuthError, NotFoundError, ServiceError
from .retry import RetryableStatusError, RetryPolicy, parse_retry_after


def status_error(
    response: httpx.Response,
    message: str,
    *,
    policy: RetryPolicy,
    url: str,
    code: str | None = None,
    refusal: type[ServiceError] | None = None,
) -> ServiceError:
    """The exception for an error status (400 or more).

    Args:
        response: the answer (its status and ``Retry-After``).
        message: the error's text (already free of secrets).
        policy: which statuses are worth another try.
        url: the request URL as it may be shown.
        code: the service's error code, if it sent one.
        refusal: the class for statuses that are not retryable (the token endpoint's
            refusals are all `AuthError`); by default 401, 404 and the rest are told apart.
    """
    status = response.status_code
    if policy.is_retryable_status(status):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RetryableStatusError(status, retry_after, url, code=code, message=message)
    if refusal is not None:
        return refusal(message, status=status, code=code, url=url)
    if status == 401:
        return AuthError(message, status=status, code=code, url=url)
    if status == 404:
        return NotFoundError(message, status=status, code=code, url=url)
    return ServiceError(message, status=status, code=code, url=url)


def unexpected_answer(response: httpx.Response, what: str) -> ServiceError:
    """The error for a success or redirect status a transfer cannot use (not 200/206)."""
    status = response.status_code
    return ServiceError(f"unexpected {status} answer to the {what}", status=status)
