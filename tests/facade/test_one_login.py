"""One login per account for the whole process: facade calls and token managers share it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phidown_async import CopernicusDataSearcher, TokenManager
from phidown_async.errors import AuthError
from phidown_async.sandbox import Sandbox, SandboxConfig

CALLS = 150


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandbox]:
    config = SandboxConfig(products=CALLS, seed=4, product_size=4 * 1024)
    with Sandbox(config) as running:
        for key, value in running.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        yield running


def password_grants(sandbox: Sandbox) -> int:
    return sandbox.counters.snapshot()["token_grants"].get("password", 0)


def test_a_loop_of_download_product_calls_logs_in_once(sandbox: Sandbox) -> None:
    names = [product["Name"] for product in sandbox.archive.products[:CALLS]]
    searcher = CopernicusDataSearcher()

    done = [searcher.download_product(name, "out", verbose=False) for name in names]

    assert all(done)
    assert len(list(Path("out").glob("*.zip"))) == CALLS
    assert password_grants(sandbox) == 1


def test_token_managers_of_one_account_share_its_login(sandbox: Sandbox) -> None:
    user, password = sandbox.config.username, sandbox.config.password
    first = TokenManager(user, password, token_url=sandbox.token_url)
    second = TokenManager(user, password, token_url=sandbox.token_url)

    token = first.get_access_token()

    assert second.get_access_token() == token
    assert second.refresh_access_token() != token
    grants = sandbox.counters.snapshot()["token_grants"]
    assert grants == {"password": 1, "refresh_token": 1}


def test_a_wrong_password_never_gets_the_shared_login(sandbox: Sandbox) -> None:
    user = sandbox.config.username
    TokenManager(user, sandbox.config.password, token_url=sandbox.token_url).get_access_token()

    with pytest.raises(AuthError):
        TokenManager(user, "not-the-password", token_url=sandbox.token_url).get_access_token()
