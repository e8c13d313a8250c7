"""phidown's TokenManager and get_token against the sandbox's token endpoint."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from phidown_async.errors import AuthError
from phidown_async.facade.tokens import TokenManager, get_token
from phidown_async.sandbox import Sandbox, SandboxConfig


@pytest.fixture
def sandbox():
    # One per test: managers of one account share its login for the whole process, and
    # each test counts the grants of its own token endpoint.
    with Sandbox(SandboxConfig(products=5, access_token_lifetime=600)) as running:
        yield running


def _manager(sandbox: Sandbox) -> TokenManager:
    config = sandbox.config
    return TokenManager(config.username, config.password, token_url=sandbox.token_url)


def test_token_is_reused_while_valid_and_expiry_has_the_buffer(sandbox):
    sandbox.counters.reset()
    manager = _manager(sandbox)
    first = manager.get_access_token()
    assert manager.get_access_token() == first == manager.access_token
    assert sandbox.counters.snapshot()["token_grants"].get("password") == 1
    assert abs(manager.expiry - (time.time() + 600 - 60)) < 5


def test_forced_refresh_uses_the_refresh_token(sandbox):
    sandbox.counters.reset()
    manager = _manager(sandbox)
    first = manager.get_access_token()
    second = manager.refresh_access_token()
    assert second != first
    grants = sandbox.counters.snapshot()["token_grants"]
    assert grants.get("password") == 1 and grants.get("refresh_token") == 1


def test_threads_share_one_grant(sandbox):
    sandbox.counters.reset()
    manager = _manager(sandbox)
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: manager.get_access_token(), range(32)))
    assert len(tokens) == 1
    assert sandbox.counters.snapshot()["token_grants"].get("password") == 1


def test_bad_credentials_raise_without_leaking_the_password(sandbox):
    manager = TokenManager("nobody", "wrong-secret", token_url=sandbox.token_url)
    with pytest.raises(AuthError) as caught:
        manager.get_access_token()
    assert "wrong-secret" not in str(caught.value)


def test_get_token(sandbox, monkeypatch):
    monkeypatch.setenv("PHIDOWN_TOKEN_URL", sandbox.token_url)
    assert get_token(sandbox.config.username, sandbox.config.password)
    with pytest.raises(ValueError, match="Username is required!"):
        get_token("", "x")
    with pytest.raises(ValueError, match="Password is required!"):
        get_token("u", "")
