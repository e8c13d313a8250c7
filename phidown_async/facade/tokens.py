"""phidown's ``TokenManager`` and ``get_token``, on the engine's token service.

Unlike phidown's, the manager is safe to share between threads, and a refresh uses the
refresh_token grant while it is valid (a password grant opens a new CDSE session; an account
may hold 100). Managers built from the same credentials, and the facade's downloads, share
one login for the whole process (`accounts.shared_state`).
"""

from __future__ import annotations

import threading
import time

import httpx

from ..accounts import shared_state
from ..auth import TokenService
from ..config import CLIENT_ID, Credentials, Endpoints
from ..portal import run_sync

TOKEN_URL = Endpoints().token_url


def _default_token_url() -> str:
    return Endpoints.from_env().token_url


class TokenManager:
    """Keeps a CDSE access token fresh for synchronous code.

    Args:
        username, password: the CDSE account.
        token_url: the token endpoint (``PHIDOWN_TOKEN_URL`` or CDSE's by default).
        client_id: the OAuth client (``cdse-public``).

    Attributes:
        access_token: the current token (None before the first call).
        expiry: ``time.time()`` after which the token is refreshed (60 s before it expires).

    Example:
        >>> manager = TokenManager("user@example.com", "secret")      # doctest: +SKIP
        >>> token = manager.get_access_token()                         # doctest: +SKIP
    """

    EXPIRY_BUFFER_SECONDS = 60

    def __init__(
        self,
        username: str,
        password: str,
        token_url: str | None = None,
        client_id: str = CLIENT_ID,
    ) -> None:
        self.username = username
        self.password = password
        self.token_url = token_url or _default_token_url()
        self.client_id = client_id
        self.access_token: str | None = None
        self.expiry = time.time()
        self._lock = threading.Lock()
        self._service: TokenService | None = None

    def __repr__(self) -> str:
        return f"TokenManager(username={self.username!r}, token_url={self.token_url!r})"

    async def _service_for_loop(self) -> TokenService:
        # Built on the portal's loop, which runs every call of this manager.
        if self._service is None:
            credentials = Credentials.given(self.username, self.password)
            self._service = TokenService(
                httpx.AsyncClient(timeout=30.0),
                self.token_url,
                credentials,
                client_id=self.client_id,
                margin=self.EXPIRY_BUFFER_SECONDS,
                state=shared_state(self.token_url, self.client_id, credentials),
            )
        return self._service

    async def _fetch(self, force: bool) -> str:
        service = await self._service_for_loop()
        token = await (service.renew(self.access_token) if force else service.token())
        self.access_token = token
        # The shared state counts in monotonic seconds; expiry is wall-clock, as phidown's.
        due = service.due
        self.expiry = time.time() + (due - time.monotonic()) if due is not None else time.time()
        return token

    def get_access_token(self) -> str:
        """A valid access token, refreshed when it is within 60 s of expiry.

        Raises:
            AuthError: the credentials were refused.
        """
        with self._lock:
            return run_sync(self._fetch, False)

    def refresh_access_token(self) -> str:
        """Replace the current token now (after a 401/403) and return the new one."""
        with self._lock:
            return run_sync(self._fetch, True)


def get_token(username: str, password: str) -> str:
    """One access token for ``username`` (a password grant).

    Raises:
        ValueError: ``Username is required!`` / ``Password is required!``.
        AuthError: the credentials were refused.
    """
    if not username:
        raise ValueError("Username is required!")
    if not password:
        raise ValueError("Password is required!")
    return TokenManager(username, password).get_access_token()
