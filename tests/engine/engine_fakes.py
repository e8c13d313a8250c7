"""Fakes for engine tests: a Keycloak token endpoint and routable hosts.

Everything runs in memory through `httpx.MockTransport`; every request is recorded with the
host it reached and the Authorization header that host received.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import anyio
import httpx

from phidown_async.config import Credentials, Endpoints

TOKEN_URL = "https://identity.test/auth/realms/CDSE/protocol/openid-connect/token"
ENDPOINTS = Endpoints(
    catalogue_url="https://catalogue.test/odata/v1",
    download_url="https://download.test/odata/v1",
    token_url=TOKEN_URL,
    s3_endpoint="https://eodata.test",
)
CREDENTIALS = Credentials("user@example.com", "pa55-w0rd-secret")

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Keycloak:
    """A token endpoint with CDSE's grants, lifetimes and error bodies.

    Issues ``access-N`` / ``refresh-N``; ``failures`` are answered first, one per request.
    """

    def __init__(
        self,
        expires_in: float | None = 600,
        refresh_expires_in: float | None = 3600,
        delay: float = 0.0,
    ) -> None:
        self.expires_in = expires_in
        self.refresh_expires_in = refresh_expires_in
        self.delay = delay
        self.forms: list[dict[str, str]] = []
        self.failures: list[httpx.Response] = []
        self.valid_access: set[str] = set()
        self.valid_refresh: set[str] = set()
        self.issued = 0

    def granted(self, grant_type: str) -> int:
        """Requests of ``grant_type`` the endpoint received."""
        return sum(1 for form in self.forms if form.get("grant_type") == grant_type)

    def revoke_access(self) -> None:
        self.valid_access.clear()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        self.forms.append(form)
        if self.delay:
            # Give concurrent callers the chance to pile up behind a grant in flight.
            await anyio.sleep(self.delay)
        if self.failures:
            return self.failures.pop(0)
        grant = form.get("grant_type")
        if grant == "password":
            if (form.get("username"), form.get("password")) != (
                CREDENTIALS.username,
                CREDENTIALS.password,
            ):
                return httpx.Response(
                    401,
                    json={
                        "error": "invalid_grant",
                        "error_description": "Invalid user credentials",
                    },
                )
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.valid_refresh:
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "Token is not active"}
                )
        else:
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        self.issued += 1
        access, refresh = f"access-{self.issued}", f"refresh-{self.issued}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        body: dict[str, object] = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "AUDIENCE_PUBLIC openid email profile user-context",
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if self.refresh_expires_in is not None:
            body["refresh_expires_in"] = self.refresh_expires_in
        return httpx.Response(200, json=body)


@dataclass(frozen=True)
class Seen:
    """One request as a host received it."""

    host: str
    method: str
    path: str
    authorization: str | None
    range: str | None


class FakeNet:
    """Routes requests by host to handlers and records what each host received."""

    def __init__(self, keycloak: Keycloak | None = None) -> None:
        self.keycloak = keycloak or Keycloak()
        self.hosts: dict[str, Handler] = {"identity.test": self.keycloak}
        self.seen: list[Seen] = []

    def route(self, host: str, handler: Handler) -> None:
        self.hosts[host] = handler

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def at(self, host: str) -> list[Seen]:
        """The requests ``host`` received, in order."""
        return [s for s in self.seen if s.host == host]

    def bearer_ok(self, request: httpx.Request) -> bool:
        """True when the request carries an access token the Keycloak considers valid."""
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.keycloak.valid_access

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(
            Seen(
                request.url.host,
                request.method,
                request.url.path,
                request.headers.get("Authorization"),
                request.headers.get("Range"),
            )
        )
        handler = self.hosts.get(request.url.host)
        if handler is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        result = handler(request)
        if inspect.isawaitable(result):
            result = await result
        return result
