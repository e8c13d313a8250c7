"""Two-factor accounts: the password grant carries ``totp``; the code is never shown."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from phidown_async.config import Credentials
from phidown_async.errors import CredentialsError, CredentialsRefusedError
from phidown_async.sandbox import Sandbox, SandboxConfig
from phidown_async.session import Session

CODE = "480913"
CONFIG = SandboxConfig(products=2, seed=9, totp=CODE)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(CONFIG) as running:
        yield running


def _account(totp: str | None) -> Credentials:
    return Credentials(CONFIG.username, CONFIG.password, totp)


async def _login(sandbox: Sandbox, credentials: Credentials) -> str:
    async with Session(sandbox.endpoints, credentials) as session:
        assert session.tokens is not None
        return await session.tokens.token()


async def test_the_grant_with_the_code_is_accepted(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    before = sandbox.counters.snapshot()["token_grants"].get("password", 0)
    assert await _login(sandbox, _account(CODE))
    assert sandbox.counters.snapshot()["token_grants"]["password"] == before + 1
    assert CODE not in caplog.text


@pytest.mark.parametrize("totp", [None, "111111"])
async def test_the_grant_without_the_code_or_with_another_is_refused(sandbox, caplog, totp):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CredentialsRefusedError) as caught:
        await _login(sandbox, _account(totp))
    message = str(caught.value)
    assert "401" in message and "CDSE_TOTP" in message
    for secret in filter(None, (CODE, totp, CONFIG.password)):
        assert secret not in message
        assert secret not in caplog.text


def test_the_code_comes_from_cdse_totp_and_never_shows_in_repr(tmp_path):
    env = {"CDSE_USERNAME": "u", "CDSE_PASSWORD": "p", "CDSE_TOTP": CODE}
    found = Credentials.from_env(env, netrc_path=tmp_path / "none")
    assert found.totp == CODE
    assert Credentials.from_env(env, netrc_path=tmp_path / "none", totp="222222").totp == "222222"
    assert Credentials.given("u", "p", env).totp == CODE
    assert Credentials.given("u", "p", {}).totp is None
    assert CODE not in repr(found)
    assert CODE not in repr(CONFIG)


def test_the_missing_credentials_message_explains_two_factor(tmp_path):
    with pytest.raises(CredentialsError, match=r"two-factor authentication.*CDSE_TOTP.*--totp"):
        Credentials.from_env({}, netrc_path=tmp_path / "none")
