"""The run's one HTTP session: client, token, connection budget, retry policy and event sink.

Every request of a run goes through one `Session`, so they all share one connection pool, one
token and one connection budget. Catalogue code calls `Session.get_json`; transfer code opens
`Session.stream` and retries with `Session.retrying`.

Example:
    async with Session(Endpoints.from_env(), Credentials.from_env()) as session:
        page = await session.get_json(session.endpoints.products_url, {"$top": "10"})
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from . import __version__
from .accounts import shared_state
from .auth import NO_AUTH, AuthTransport, TokenService, TokenSource
from .config import CLIENT_ID, Credentials, Endpoints, Limits
from .errors import ServiceError
from .events import EventSink, RetryScheduled, discard
from .http_errors import status_error
from .quota import ConnectionBudget
from .retry import RetryableStatusError, RetryPolicy
from .transport import LazyTls, ThreadedTransport

if TYPE_CHECKING:
    import tenacity  # imported by RetryPolicy.retrying when a loop is made (~30 ms)

# Error bodies are read only this far: enough for any JSON error, bounded for HTML pages.
_ERROR_BODY_LIMIT = 64 * 1024
_THROTTLE_STATUSES = (429, 503)
_SECRET_PARAMS = ("token", "access_token", "refresh_token", "password")


def _user_agent() -> str:
    return f"phidown_async/{__version__}"


class Session:
    """Owns the HTTP client, the token service, the connection budget and the retry policy.

    Args:
        endpoints: where requests go; only their catalogue and download hosts see the token.
        credentials: the CDSE account, or None for anonymous use (searches need no token).
        limits: connection budget size and timeouts.
        retry: the policy for `get_json` and for `retrying`.
        sink: receives retry, quota and token events.
        verify_tls: verify server certificates (leave on outside tests).
        transport: the transport to send through (tests pass ``httpx.MockTransport``);
            by default a pooled HTTP transport sized to ``limits.connections``.
        tokens: a token provider to use instead of one built from ``credentials`` (e.g. a
            `StaticToken` the caller obtained elsewhere).
        share_login: keep the tokens of ``credentials`` in the process-wide
            `accounts.shared_state`, so that every session of the process with the same
            account logs in once and later ones use the refresh grant (the facade and the
            CLI do this: each of their calls opens a session).
        budget: the connection budget to use instead of one of ``limits.connections``
            (a cluster's worker bounds it by the account's lease, `cluster.worker`).

    Use it as an async context manager; leaving it closes the connections.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        credentials: Credentials | None = None,
        *,
        limits: Limits = Limits(),  # noqa: B008 - frozen value
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
        sink: EventSink = discard,
        verify_tls: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        tokens: TokenSource | None = None,
        share_login: bool = False,
        budget: ConnectionBudget | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.limits = limits
        self.retry = retry
        self.sink = sink
        self.budget = budget or ConnectionBudget(limits.connections, sink)
        if transport is None:
            # One TLS context for both pools: building one (loading the CA bundle) costs
            # tens of milliseconds, a noticeable share of a small search.
            tls = LazyTls(lambda: httpx.create_ssl_context(verify=verify_tls))
            inner: httpx.AsyncBaseTransport = ThreadedTransport(
                tls=tls, connections=limits.connections, timeout=limits.timeout
            )
            # Token requests get their own small pool: a renewal must never wait for a
            # connection held by a download that is itself waiting for the token.
            token_transport: httpx.AsyncBaseTransport = ThreadedTransport(
                tls=tls, connections=2, timeout=limits.timeout
            )
        else:
            inner = token_transport = transport
        timeout = httpx.Timeout(limits.timeout)
        headers = {"User-Agent": _user_agent()}
        self._token_client = httpx.AsyncClient(
            transport=token_transport, timeout=timeout, headers=headers
        )
        if tokens is None and credentials is not None:
            state = (
                shared_state(endpoints.token_url, CLIENT_ID, credentials) if share_login else None
            )
            tokens = TokenService(
                self._token_client, endpoints.token_url, credentials, sink=sink, state=state
            )
        self.tokens: TokenSource | None = tokens
        self.client = httpx.AsyncClient(
            transport=AuthTransport(inner, self.tokens, endpoints.is_trusted),
            timeout=timeout,
            headers=headers,
            follow_redirects=True,
        )

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection of the session."""
        try:
            await self.client.aclose()
        finally:
            await self._token_client.aclose()

    def retrying(self, item: str = "") -> tenacity.AsyncRetrying:
        """The session's retry policy as a tenacity loop that reports `RetryScheduled` events.

        Args:
            item: the product or burst Id the retries are about (empty for searches).
        """

        def report(attempt: int, delay: float, exc: BaseException) -> None:
            self.sink(RetryScheduled(item=item, attempt=attempt, delay=delay, reason=describe(exc)))

        return self.retry.retrying(on_retry=report)

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET a catalogue URL and return its JSON object, retrying per the session's policy.

        The request holds one budget slot at a time; 429/503 lower the budget and honour
        ``Retry-After``. No token is sent unless the host answers 401.

        Raises:
            NotFoundError: 404.
            AuthError: 401 even with a token (or none configured).
            ServiceError: any other error status, a body that is not a JSON object, or a
                retryable failure that outlasted every try (``status`` None when the host
                could not be reached).
        """
        try:
            async for attempt in self.retrying():
                with attempt:
                    async with self.budget.slot():
                        response = await self.client.get(
                            url, params=params, extensions={NO_AUTH: True}
                        )
                    self._raise_for_status(response, response.content)
        except httpx.TransportError as exc:
            raise ServiceError(
                f"Could not reach {safe_url(httpx.URL(url))}: {describe(exc)}",
                url=safe_url(httpx.URL(url)),
            ) from exc
        self.budget.succeeded()
        try:
            body = orjson.loads(response.content)
        except ValueError:  # orjson.JSONDecodeError is one
            body = None
        if not isinstance(body, dict):
            raise ServiceError(
                f"CDSE answered {safe_url(response.request.url)} with a body that is not a "
                "JSON object.",
                status=response.status_code,
                url=safe_url(response.request.url),
            )
        return body

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        follow_redirects: bool = True,
    ) -> AsyncIterator[httpx.Response]:
        """Send one request and yield its streamed response, holding a budget slot meanwhile.

        The token is attached (and renewed on 401) by the transport. No retry happens here:
        the caller retries (`download.tries.keep_trying`) so that it can resume with
        ``Range``.

        Args:
            method, url, headers: the request.
            follow_redirects: False yields a 3xx as is (httpx turns a POST into a GET on
                301/302, so burst requests may want to re-POST to ``Location`` themselves).

        Raises:
            RetryableStatusError: 408, 425, 429 or 5xx (429/503 also throttle the budget).
            NotFoundError, AuthError, ServiceError: other error statuses.
            httpx.TransportError: the connection failed (see `retry.is_retryable`).
        """
        async with self.budget.slot():
            request = self.client.build_request(method, url, headers=headers)
            response = await self.client.send(
                request, stream=True, follow_redirects=follow_redirects
            )
            try:
                if response.status_code >= 400:
                    self._raise_for_status(response, await _read_capped(response))
                yield response
            finally:
                await response.aclose()
        self.budget.succeeded()

    def _raise_for_status(self, response: httpx.Response, body: bytes) -> None:
        status = response.status_code
        if status < 400:
            return
        url = safe_url(response.request.url)
        code, detail = error_detail(body, response.headers.get("Content-Type", ""))
        method = response.request.method
        message = f"CDSE answered {status} {response.reason_phrase} for {method} {url}"
        if code or detail:
            message += ": " + " ".join(p for p in (f"[{code}]" if code else "", detail) if p)
        if self.tokens is not None:
            message = self.tokens.redact(message)
        if self.tokens is None and status == 401:
            message += (
                ". This needs a CDSE account: set CDSE_USERNAME and CDSE_PASSWORD "
                "or add the identity host to ~/.netrc."
            )
        error = status_error(response, message, policy=self.retry, url=url, code=code)
        if isinstance(error, RetryableStatusError) and status in _THROTTLE_STATUSES:
            self.budget.throttle(error.retry_after, reason=f"{status} {code or ''}".strip())
        raise error


def safe_url(url: httpx.URL) -> str:
    """``url`` as text, without query parameters that could carry a secret."""
    for name in _SECRET_PARAMS:
        if name in url.params:
            url = url.copy_remove_param(name)
    return str(url)


def describe(exc: BaseException) -> str:
    """A one-line, secret-free reason for an error, for events and messages."""
    if isinstance(exc, ServiceError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_detail(body: bytes, content_type: str = "") -> tuple[str | None, str | None]:
    """The service's error code and message from an error body, in any CDSE shape.

    Understands the download service (``{"code": "DAT-ZIP-604", "message": ...}``), FastAPI /
    pydantic (``{"detail": "..."}`` or ``{"detail": [{"type", "loc", "msg"}]}``), OpenSearch
    (``{"detail": {"ErrorCode", "ErrorMessage"}}``) and Keycloak (``{"error",
    "error_description"}``); other bodies give their first 200 characters of text.

    Returns:
        ``(code, message)``, either may be None.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        found = _json_error(data)
        if found != (None, None):
            return found
    if "html" in content_type.lower() or text.startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return None, (text[:200] or None)


def _json_error(data: dict[str, Any]) -> tuple[str | None, str | None]:
    if "code" in data or "message" in data:
        return _text(data.get("code")), _text(data.get("message"))
    if "error" in data:
        return _text(data.get("error")), _text(data.get("error_description"))
    detail = data.get("detail")
    if isinstance(detail, str):
        return None, detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        loc = ".".join(str(part) for part in first.get("loc", ()) if part is not None)
        msg = _text(first.get("msg"))
        return _text(first.get("type")), f"{loc}: {msg}" if loc and msg else msg
    if isinstance(detail, dict):
        return _text(detail.get("ErrorCode")), _text(detail.get("ErrorMessage"))
    return None, None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _ERROR_BODY_LIMIT:
                break
    except (httpx.HTTPError, httpx.StreamError):
        # A broken error body must not hide the status that came with it.
        pass
    return b"".join(chunks)[:_ERROR_BODY_LIMIT]
