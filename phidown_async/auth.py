"""One CDSE token for the whole run, and the transport that attaches it where it belongs.

`TokenService` keeps the access token fresh: it refreshes a little before ``exp``, uses the
refresh_token grant while the refresh token is valid (a password grant opens a new CDSE
session, and an account may hold only 100), and lets exactly one refresh run at a time.

`AuthTransport` wraps the HTTP transport of the session's client: it adds the bearer token to
requests for trusted CDSE hosts only (on every hop of a redirect chain), strips it from any
other host, and replays a request once with a renewed token when a trusted host answers 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import httpx

from .accounts import TokenState
from .config import CLIENT_ID, Credentials
from .errors import AuthError, CredentialsRefusedError, ServiceError
from .events import EventSink, TokenRefreshed, discard
from .http_errors import status_error
from .retry import RetryPolicy

NO_AUTH = "phidown_async.no_auth"
"""Request extension: when true, the request goes out without a token unless a 401 asks for one."""

# A short-lived token (seconds) must not be "due for refresh" from the moment it arrives, nor
# renewed much more often than it expires: a token living less than ten margins is renewed
# 5 % of its lifetime early instead.
_SHORT_MARGIN_FRACTION = 0.05
# phidown's default when the endpoint omits expires_in.
_DEFAULT_LIFETIME = 3600.0
# Token requests are small and block every worker while they run: few tries, short waits.
_TOKEN_RETRY = RetryPolicy(attempts=4, initial_delay=1.0, max_delay=10.0)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class TokenSource(Protocol):
    """What the session needs from a token provider (`TokenService` or `StaticToken`)."""

    async def token(self) -> str: ...

    async def renew(self, stale: str | None) -> str: ...

    def redact(self, text: str) -> str: ...


class StaticToken:
    """A token the caller obtained elsewhere (phidown's ``download_burst_on_demand(token=...)``).

    It cannot be refreshed: when a host refuses it, `renew` raises AuthError.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    async def renew(self, stale: str | None) -> str:
        raise AuthError(
            "CDSE refused the access token that was passed in, and a plain token cannot be "
            "refreshed; pass a TokenManager (or credentials) instead.",
            status=401,
        )

    def redact(self, text: str) -> str:
        return redact(text, (self._token,))


class TokenService:
    """Hands out a valid CDSE access token; refreshes it once for all concurrent callers.

    Args:
        client: an HTTP client WITHOUT `AuthTransport` (the token request carries no bearer).
        token_url: the Keycloak token endpoint.
        credentials: the account.
        client_id: the OAuth client (CDSE: ``cdse-public``).
        margin: refresh this many seconds before expiry (tokens living less than ten
            margins are renewed 5 % of their lifetime early, so short-lived ones are used).
        clock: monotonic seconds; tests pass a fake one.
        sink: receives a `TokenRefreshed` event per grant.
        retry: policy for the token endpoint's 429/5xx and network errors.
        state: where the tokens are kept; pass `accounts.shared_state` to share one login
            with every other service of the process (its times are ``time.monotonic``, so
            ``clock`` must be left as is). By default the service keeps its own.

    Attributes:
        grants: how many grants of each type were made (``password``, ``refresh_token``).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        token_url: str,
        credentials: Credentials,
        *,
        client_id: str = CLIENT_ID,
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sink: EventSink = discard,
        retry: RetryPolicy = _TOKEN_RETRY,
        state: TokenState | None = None,
    ) -> None:
        self._client = client
        self._url = token_url
        self._credentials = credentials
        self._client_id = client_id
        self._margin = margin
        self._clock = clock
        self._sink = sink
        self._retry = retry
        self._state = state if state is not None else TokenState()
        self._grants = {"password": 0, "refresh_token": 0}

    @property
    def grants(self) -> dict[str, int]:
        """Number of grants made so far, by grant type."""
        return dict(self._grants)

    @property
    def due(self) -> float | None:
        """Clock time at which the current access token will be refreshed (None before any)."""
        state = self._state
        return state.access_due if state.access is not None else None

    async def token(self) -> str:
        """A valid access token, fetched or refreshed when due.

        Raises:
            AuthError: the endpoint refused the credentials (message names the user only).
            ServiceError: the endpoint stayed unreachable or kept failing.
        """
        if self._valid():
            return self._state.access  # type: ignore[return-value]
        async with self._state.lock():
            # Another caller may have refreshed while this one waited for the lock.
            if not self._valid():
                await self._obtain()
            return self._state.access  # type: ignore[return-value]

    async def renew(self, stale: str | None) -> str:
        """A new token after a 401 for ``stale``; refreshes only if ``stale`` is still current.

        Many requests failing with the same token at once cause one refresh between them.

        Raises:
            AuthError, ServiceError: as for `token`.
        """
        async with self._state.lock():
            if self._state.access is None or self._state.access == stale or not self._valid():
                await self._obtain()
            return self._state.access  # type: ignore[return-value]

    def redact(self, text: str) -> str:
        """``text`` with the password and any token this service holds replaced by ``***``."""
        state = self._state
        secrets = (self._credentials.password, self._credentials.totp, state.access, state.refresh)
        return redact(text, secrets)

    def _valid(self) -> bool:
        return self._state.access is not None and self._clock() < self._state.access_due

    def _due(self, issued: float, lifetime: float) -> float:
        margin = (
            self._margin if lifetime >= 10 * self._margin else lifetime * _SHORT_MARGIN_FRACTION
        )
        return issued + lifetime - margin

    async def _obtain(self) -> None:
        state = self._state
        refresh = state.refresh
        if refresh is not None and self._clock() < state.refresh_due:
            try:
                await self._grant("refresh_token", {"refresh_token": refresh})
                return
            except AuthError as exc:
                # Keycloak answers 400 invalid_grant for an expired or revoked session;
                # only then is a new password grant (a new CDSE session) justified.
                if exc.status != 400:
                    raise
            if state.refresh != refresh and self._valid():
                return  # a service on another event loop renewed the shared login meanwhile
            if state.refresh == refresh:
                state.refresh = None
        credentials = self._credentials
        fields = {"username": credentials.username, "password": credentials.password}
        if credentials.totp:
            fields["totp"] = credentials.totp  # two-factor accounts (CDSE's direct grant)
        await self._grant("password", fields)

    async def _grant(self, grant: str, fields: dict[str, str]) -> None:
        form = {"grant_type": grant, "client_id": self._client_id, **fields}
        try:
            async for attempt in self._retry.retrying():
                with attempt:
                    issued = self._clock()
                    response = await self._client.post(self._url, data=form)
                    self._check(response, grant)
        except httpx.TransportError as exc:
            raise ServiceError(
                f"Could not reach the CDSE token endpoint {self._url}: {type(exc).__name__}",
                url=self._url,
            ) from None
        body = self._body(response, grant)
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthError(
                f"The CDSE token endpoint answered the {grant} grant without an access token.",
                status=response.status_code,
                url=self._url,
            )
        lifetime = _seconds(body.get("expires_in"), _DEFAULT_LIFETIME)
        state = self._state
        state.access = access
        state.access_due = self._due(issued, lifetime)
        refresh = body.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            refresh_lifetime = _seconds(body.get("refresh_expires_in"), lifetime)
            state.refresh = refresh
            state.refresh_due = self._due(issued, refresh_lifetime)
        self._grants[grant] += 1
        self._sink(TokenRefreshed(item="", grant=grant))

    def _check(self, response: httpx.Response, grant: str) -> None:
        status = response.status_code
        if status < 400:
            return
        code: str | None = None
        # The account itself was refused: only the user can fix that.
        refused = grant == "password" and status in (400, 401)
        if self._retry.is_retryable_status(status):
            message = f"The CDSE token endpoint answered {status} to the {grant} grant."
        else:
            code, description = _keycloak_error(response)
            detail = f"{description} ({code})" if description else code or response.reason_phrase
            who = f"user {self._credentials.username!r}"
            hint = (
                " Check CDSE_USERNAME / CDSE_PASSWORD or ~/.netrc, and for an account with "
                "two-factor authentication its current code in CDSE_TOTP."
                if refused
                else ""
            )
            message = (
                f"The CDSE token endpoint refused the {grant} grant for {who}: "
                f"{status} {self.redact(detail[:200])}.{hint}"
            )
        raise status_error(
            response,
            message,
            policy=self._retry,
            url=self._url,
            code=code,
            refusal=CredentialsRefusedError if refused else AuthError,
        )

    def _body(self, response: httpx.Response, grant: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise AuthError(
                f"The CDSE token endpoint answered the {grant} grant with a body that is not "
                "a JSON object.",
                status=response.status_code,
                url=self._url,
            )
        return body


def _seconds(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


def _keycloak_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error, description = body.get("error"), body.get("error_description")
    return (
        error if isinstance(error, str) else None,
        description if isinstance(description, str) else None,
    )


class AuthTransport(httpx.AsyncBaseTransport):
    """Attaches the bearer token to trusted CDSE hosts only, and replays once after a 401.

    Args:
        inner: the transport that actually sends requests.
        tokens: the token service, or None for an anonymous session (nothing is attached).
        is_trusted: tells whether a URL belongs to a CDSE host that may see the token.

    Requests carrying the `NO_AUTH` extension go out without a token; if a trusted host
    answers them 401 they are replayed once with one. Only requests whose body can be sent
    twice are replayed.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        tokens: TokenSource | None,
        is_trusted: Callable[[str], bool],
    ) -> None:
        self._inner = inner
        self._tokens = tokens
        self._is_trusted = is_trusted

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        trusted = self._is_trusted(str(request.url))
        if not trusted:
            # httpx strips Authorization on cross-origin redirects, except http -> https of
            # the same host; a caller-supplied header is removed here as well.
            request.headers.pop("Authorization", None)
            return await self._inner.handle_async_request(request)
        sent: str | None = None
        if self._tokens is not None and not request.extensions.get(NO_AUTH):
            sent = await self._tokens.token()
            request.headers["Authorization"] = f"Bearer {sent}"
        response = await self._inner.handle_async_request(request)
        if response.status_code != 401 or self._tokens is None or not _replayable(request):
            return response
        await _discard(response)
        fresh = await self._tokens.renew(sent) if sent else await self._tokens.token()
        # Same request object: method, URL, Range and If-Range stay as they were, so a
        # transfer resumes where it stopped.
        request.headers["Authorization"] = f"Bearer {fresh}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


async def _discard(response: httpx.Response) -> None:
    # Reading the (small) error body lets the connection return to the pool.
    try:
        await response.aread()
    except (httpx.HTTPError, httpx.StreamError):
        pass
    finally:
        await response.aclose()
