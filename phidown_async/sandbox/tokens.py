"""The sandbox's token endpoint: Keycloak-like password and refresh_token grants.

``POST /auth/realms/{CDSE|cdse}/protocol/openid-connect/token`` (form-encoded) answers with
the body of CDSE's Keycloak (same keys, same order). Tokens are JWT-shaped
(``header.payload.signature``, HS256 with a per-sandbox secret) and carry ``exp``, ``iat``,
``sid``, ``sub``, ``azp`` and ``typ`` claims, so clients can read their expiry.

Every password grant opens a session; a refresh keeps it alive for another
``refresh_token_lifetime``. When a user already has ``max_sessions`` active sessions, a new
password grant is refused with 401 ``invalid_grant`` / ``Invalid user credentials``: that is
what CDSE users report after re-logging in too often (eodag #803), since Keycloak's direct
grant flow cannot show its own "too many sessions" page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .counters import Counters
from .settings import SandboxConfig

CLIENT_ID = "cdse-public"
REALMS = ("CDSE", "cdse")
TOKEN_PATH = "/auth/realms/{realm}/protocol/openid-connect/token"
SCOPE = "AUDIENCE_PUBLIC openid email profile ondemand_processing user-context"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Validation:
    """Outcome of checking a bearer token.

    Attributes:
        user: the account the token belongs to, or None when it is not usable.
        reason: why it is not usable: ``missing``, ``malformed``, ``unknown``, ``expired``
            or ``revoked`` (None when valid).
    """

    user: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


@dataclass
class _Issued:
    typ: str  # "Bearer" or "Refresh"
    user: str
    sid: str
    expires_at: float
    revoked: bool = False


@dataclass
class _Session:
    user: str
    expires_at: float


class GrantError(Exception):
    """A refused grant, carried to the HTTP layer as ``status`` + Keycloak body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _seconds(value: float) -> int | float:
    # Keycloak sends whole seconds; keep fractions only for sub-second test lifetimes.
    return int(value) if float(value).is_integer() else value


class TokenService:
    """Issues, refreshes, validates and revokes the sandbox's tokens.

    Args:
        settings: returns the current SandboxConfig (lifetimes and limits may change at runtime).
        counters: where grants and sessions are tallied.
        issuer: the ``iss`` claim (the realm URL).
        clock: seconds since the epoch; injectable for tests of expiry.
    """

    def __init__(
        self,
        settings: Callable[[], SandboxConfig],
        counters: Counters,
        issuer: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._counters = counters
        self._issuer = issuer
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        # Grants run on the server loop, revoke/validate may come from a test thread.
        self._lock = threading.Lock()
        self._issued: dict[str, _Issued] = {}
        self._sessions: dict[str, _Session] = {}

    # -- HTTP -----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The token route, for the identity origin."""
        return [Route(TOKEN_PATH, self._endpoint, methods=["POST"])]

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["realm"] not in REALMS:
            return JSONResponse({"error": "Realm does not exist"}, status_code=404)
        body = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        try:
            reply = self.grant(form)
        except GrantError as exc:
            return JSONResponse(exc.body, status_code=exc.status, headers=_NO_STORE)
        return JSONResponse(reply, headers=_NO_STORE)

    # -- grants ---------------------------------------------------------------------------

    def grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer one token request given its form fields.

        Returns:
            the success body (Keycloak's keys, in its order).

        Raises:
            GrantError: the request is refused (status and body as Keycloak sends them).
        """
        grant_type = form.get("grant_type")
        if not grant_type:
            raise GrantError(400, "invalid_request", "Missing form parameter: grant_type")
        if form.get("client_id") != CLIENT_ID:
            raise GrantError(401, "invalid_client", "Invalid client or Invalid client credentials")
        if grant_type == "password":
            reply = self._password(form)
        elif grant_type == "refresh_token":
            reply = self._refresh(form)
        else:
            raise GrantError(400, "unsupported_grant_type", "Unsupported grant_type")
        return reply

    def _password(self, form: Mapping[str, str]) -> dict[str, Any]:
        config = self._settings()
        username, password = form.get("username", ""), form.get("password", "")
        if not username:
            raise GrantError(400, "invalid_request", "Missing parameter: username")
        # Keycloak matches user names case-insensitively, passwords exactly.
        user = next(
            (
                name
                for name, secret in config.accounts()
                if username.lower() == name.lower()
                and hmac.compare_digest(password.encode(), secret.encode())
            ),
            None,
        )
        # Two-factor: a missing or wrong code gets CDSE's answer to a wrong password.
        code = form.get("totp", "").encode()
        if config.totp is not None and not hmac.compare_digest(code, config.totp.encode()):
            user = None
        if user is None:
            raise GrantError(401, "invalid_grant", "Invalid user credentials")
        now = self._clock()
        with self._lock:
            self._prune(now)
            active = sum(
                1 for s in self._sessions.values() if s.user == user and s.expires_at > now
            )
            if active >= config.max_sessions:
                self._counters.session_refused()
                raise GrantError(401, "invalid_grant", "Invalid user credentials")
            sid = str(uuid.uuid4())
            self._sessions[sid] = _Session(user, now + config.refresh_token_lifetime)
            reply = self._issue(config, user, sid, now)
        self._counters.session_opened()
        self._counters.grant("password", user)
        return reply

    def _refresh(self, form: Mapping[str, str]) -> dict[str, Any]:
        config = self._settings()
        token = form.get("refresh_token", "")
        if not token:
            raise GrantError(400, "invalid_request", "Missing form parameter: refresh_token")
        claims = self._decode(token)
        if claims is None or claims.get("typ") != "Refresh":
            raise GrantError(400, "invalid_grant", "Invalid refresh token")
        now = self._clock()
        with self._lock:
            record = self._issued.get(claims.get("jti", ""))
            if record is None or record.revoked or record.expires_at <= now:
                raise GrantError(400, "invalid_grant", "Token is not active")
            session = self._sessions.get(record.sid)
            if session is None or session.expires_at <= now:
                raise GrantError(400, "invalid_grant", "Session not active")
            session.expires_at = now + config.refresh_token_lifetime
            reply = self._issue(config, record.user, record.sid, now)
        self._counters.grant("refresh_token", record.user)
        return reply

    def _issue(self, config: SandboxConfig, user: str, sid: str, now: float) -> dict[str, Any]:
        access_exp = now + config.access_token_lifetime
        refresh_exp = now + config.refresh_token_lifetime
        subject = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{user.lower()}"))
        common = {
            "iat": int(now),
            "iss": self._issuer,
            "sub": subject,
            "sid": sid,
            "session_state": sid,
            "azp": CLIENT_ID,
            "scope": SCOPE,
        }
        access = self._encode(
            {
                "exp": int(access_exp),
                **common,
                "jti": str(uuid.uuid4()),
                "typ": "Bearer",
                "aud": ["CLOUDFERRO_PUBLIC", "account"],
                "preferred_username": user,
                "email": user,
                "realm_access": {"roles": ["copernicus-general"]},
            }
        )
        refresh = self._encode(
            {
                "exp": int(refresh_exp),
                **common,
                "jti": str(uuid.uuid4()),
                "typ": "Refresh",
                "aud": self._issuer,
            }
        )
        self._issued[self._jti(access)] = _Issued("Bearer", user, sid, access_exp)
        self._issued[self._jti(refresh)] = _Issued("Refresh", user, sid, refresh_exp)
        return {
            "access_token": access,
            "expires_in": _seconds(config.access_token_lifetime),
            "refresh_expires_in": _seconds(config.refresh_token_lifetime),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": sid,
            "scope": SCOPE,
        }

    def _prune(self, now: float) -> None:
        # Long benchmark runs grant many tokens; an expired record says nothing the exp claim
        # does not, so forget it.
        for jti in [j for j, r in self._issued.items() if r.expires_at <= now]:
            del self._issued[jti]
        for sid in [s for s, v in self._sessions.items() if v.expires_at <= now]:
            del self._sessions[sid]

    # -- JWT shape ------------------------------------------------------------------------

    def _encode(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "sandbox"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = _b64(hmac.new(self._secret, signing_input, hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def _decode(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            expected = hmac.new(
                self._secret, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
            ).digest()
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeEncodeError):
            return None
        return claims if isinstance(claims, dict) else None

    def _jti(self, token: str) -> str:
        claims = self._decode(token)
        assert claims is not None  # we just signed it
        return claims["jti"]

    # -- validation, used by the download and burst routes ---------------------------------

    def validate(self, token: str | None) -> Validation:
        """Check an access token.

        Returns:
            Validation with the user, or with the reason it is refused.
        """
        if not token:
            return Validation(None, "missing")
        claims = self._decode(token)
        if claims is None or claims.get("typ") != "Bearer":
            return Validation(None, "malformed")
        now = self._clock()
        with self._lock:
            record = self._issued.get(claims.get("jti", ""))
        if record is None:
            expired = isinstance(claims.get("exp"), int | float) and claims["exp"] <= now
            return Validation(None, "expired" if expired else "unknown")
        if record.revoked:
            return Validation(None, "revoked")
        if record.expires_at <= now:
            return Validation(None, "expired")
        return Validation(record.user)

    def revoke(self, token: str) -> bool:
        """Make an access token unusable from now on; True when it was known."""
        claims = self._decode(token)
        if claims is None:
            return False
        with self._lock:
            record = self._issued.get(claims.get("jti", ""))
            if record is None:
                return False
            record.revoked = True
            return True
