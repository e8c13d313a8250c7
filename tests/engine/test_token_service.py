"""TokenService: single-flight refresh, grant choice, expiry margins, errors."""

from __future__ import annotations

import anyio
import httpx
import pytest
from engine_fakes import CREDENTIALS, TOKEN_URL, FakeClock, FakeNet, Keycloak

from phidown_async.auth import TokenService
from phidown_async.config import Credentials
from phidown_async.errors import AuthError, ServiceError
from phidown_async.events import EventLog, TokenRefreshed
from phidown_async.retry import RetryPolicy

QUICK = RetryPolicy(attempts=3, initial_delay=0.0, jitter=0.0)


def service(net: FakeNet, clock: FakeClock, credentials: Credentials = CREDENTIALS, **kw):
    client = httpx.AsyncClient(transport=net.transport())
    return TokenService(client, TOKEN_URL, credentials, clock=clock, retry=QUICK, **kw)


async def many(calls: int, fn) -> list[str]:
    results: list[str] = []

    async def one() -> None:
        results.append(await fn())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(calls):
                tg.start_soon(one)
    return results


async def test_sixty_four_callers_share_one_grant(clock):
    net = FakeNet(Keycloak(delay=0.02))
    tokens = service(net, clock)
    results = await many(64, tokens.token)
    assert set(results) == {"access-1"}
    assert tokens.grants == {"password": 1, "refresh_token": 0}
    assert len(net.keycloak.forms) == 1

    clock.advance(700)  # access token expired, refresh token still valid
    results = await many(64, tokens.token)
    assert set(results) == {"access-2"}
    assert tokens.grants == {"password": 1, "refresh_token": 1}
    assert len(net.keycloak.forms) == 2


async def test_refresh_grant_while_valid_password_grant_after(net, clock):
    tokens = service(net, clock)
    assert await tokens.token() == "access-1"
    clock.advance(580)
    assert await tokens.token() == "access-2"
    clock.advance(580)
    assert await tokens.token() == "access-3"
    # the refresh token (3600 s) has run out: only a new login works
    clock.advance(3600)
    assert await tokens.token() == "access-4"
    grants = [form["grant_type"] for form in net.keycloak.forms]
    assert grants == ["password", "refresh_token", "refresh_token", "password"]
    assert all(form["client_id"] == "cdse-public" for form in net.keycloak.forms)
    assert net.keycloak.forms[1]["refresh_token"] == "refresh-1"
    assert "password" not in net.keycloak.forms[1]


async def test_token_is_reused_until_the_margin(net, clock):
    tokens = service(net, clock)
    assert await tokens.token() == "access-1"
    clock.advance(539)  # 600 s lifetime, refreshed 60 s early
    assert await tokens.token() == "access-1"
    clock.advance(2)
    assert await tokens.token() == "access-2"
    assert tokens.grants["refresh_token"] == 1


async def test_short_lived_tokens_are_still_used(clock):
    net = FakeNet(Keycloak(expires_in=4, refresh_expires_in=8))
    tokens = service(net, clock)
    assert await tokens.token() == "access-1"
    clock.advance(3.7)  # renewed 5 % of its 4 s lifetime early, at 3.8 s
    assert await tokens.token() == "access-1"
    clock.advance(0.2)
    assert await tokens.token() == "access-2"


async def test_missing_lifetime_means_an_hour(clock):
    net = FakeNet(Keycloak(expires_in=None, refresh_expires_in=None))
    tokens = service(net, clock)
    assert await tokens.token() == "access-1"
    clock.advance(3000)
    assert await tokens.token() == "access-1"
    clock.advance(600)
    assert await tokens.token() == "access-2"


async def test_refused_refresh_falls_back_to_password(net, clock):
    tokens = service(net, clock)
    await tokens.token()
    net.keycloak.valid_refresh.clear()  # session ended on the server
    clock.advance(590)
    assert await tokens.token() == "access-2"
    assert [f["grant_type"] for f in net.keycloak.forms] == [
        "password",
        "refresh_token",
        "password",
    ]
    assert tokens.grants == {"password": 2, "refresh_token": 0}


async def test_renew_refreshes_once_for_many_stale_callers(clock):
    net = FakeNet(Keycloak(delay=0.02))
    tokens = service(net, clock)
    stale = await tokens.token()
    results = await many(64, lambda: tokens.renew(stale))
    assert set(results) == {"access-2"}
    assert tokens.grants == {"password": 1, "refresh_token": 1}
    # a caller still holding the older token gets the current one without a new grant
    assert await tokens.renew(stale) == "access-2"
    assert tokens.grants["refresh_token"] == 1
    assert await tokens.renew("access-2") == "access-3"


async def test_bad_credentials_raise_auth_error_without_secrets(net, clock):
    wrong = Credentials("user@example.com", "not-the-password")
    tokens = service(net, clock, credentials=wrong)
    with pytest.raises(AuthError) as caught:
        await tokens.token()
    error = caught.value
    assert error.status == 401 and error.code == "invalid_grant"
    assert "Invalid user credentials" in str(error)
    assert "user@example.com" in str(error)
    assert "not-the-password" not in str(error)
    assert "CDSE_USERNAME" in str(error)
    assert len(net.keycloak.forms) == 1  # a refusal is not retried


async def test_token_endpoint_overload_is_retried(net, clock):
    net.keycloak.failures = [
        httpx.Response(503, headers={"Retry-After": "0"}),
        httpx.Response(429, json={"error": "too many"}),
    ]
    tokens = service(net, clock)
    assert await tokens.token() == "access-1"
    assert len(net.keycloak.forms) == 3
    assert tokens.grants["password"] == 1


async def test_token_endpoint_down_gives_a_service_error(clock):
    net = FakeNet()
    net.hosts.pop("identity.test")
    tokens = service(net, clock)
    with pytest.raises(ServiceError) as caught:
        await tokens.token()
    assert caught.value.status is None
    assert TOKEN_URL in str(caught.value)
    assert len(net.seen) == QUICK.attempts


async def test_answer_without_access_token(net, clock):
    net.keycloak.failures = [httpx.Response(200, json={"token_type": "Bearer"})]
    with pytest.raises(AuthError, match="without an access token"):
        await service(net, clock).token()


async def test_grants_are_reported_as_events(net, clock):
    log = EventLog()
    tokens = service(net, clock, sink=log)
    await tokens.token()
    clock.advance(600)
    await tokens.token()
    assert [e.grant for e in log.of(TokenRefreshed)] == ["password", "refresh_token"]


async def test_redact_hides_password_and_tokens(net, clock):
    tokens = service(net, clock)
    token = await tokens.token()
    text = tokens.redact(f"echo: Bearer {token} {CREDENTIALS.password} refresh-1")
    assert text == "echo: Bearer *** *** ***"
