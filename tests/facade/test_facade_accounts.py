"""The facade's ``accounts=``: phidown's download calls shared among several accounts."""

from __future__ import annotations

import pytest

from phidown_async import Account, CopernicusDataSearcher, Credentials
from phidown_async.errors import ConfigError
from phidown_async.ledger import Ledger
from phidown_async.sandbox import Sandbox, SandboxConfig

ACCOUNTS = """
[[account]]
name = "first"
username_env = "FIRST_USER"
password_env = "FIRST_PASS"
connections = 1

[[account]]
name = "second"
username_env = "SECOND_USER"
password_env = "SECOND_PASS"
connections = 1
"""


@pytest.fixture(scope="module")
def sandbox():
    config = SandboxConfig(
        products=30, seed=21, product_size=16 * 1024, burst_size=4 * 1024, users=2
    )
    with Sandbox(config) as running:
        yield running


@pytest.fixture
def env(sandbox, monkeypatch, tmp_path):
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    for prefix, user in zip(("FIRST", "SECOND"), sandbox.users, strict=True):
        monkeypatch.setenv(f"{prefix}_USER", user["username"])
        monkeypatch.setenv(f"{prefix}_PASS", user["password"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.toml").write_text(ACCOUNTS)
    return sandbox


def test_download_products_takes_an_accounts_file(env, tmp_path):
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-2", top=6)
    found = searcher.execute_query()

    result = searcher.download_products(found, "data", verbose=False, accounts="accounts.toml")

    assert (result["downloaded"], result["failed"], result["transport"]) == (6, 0, "https")
    with Ledger(tmp_path / "data" / ".phidown_ledger.sqlite", readonly=True) as ledger:
        assert {row.account for row in ledger.rows()} == {"first", "second"}


def test_download_bursts_takes_account_values(env, tmp_path):
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter(burst_mode=True, polarisation_channels="VV", top=4)
    bursts = searcher.execute_query()
    accounts = [
        Account(f"user{n}", Credentials(u["username"], u["password"]), 1)
        for n, u in enumerate(env.users)
    ]

    result = searcher.download_bursts(bursts, "bursts", verbose=False, accounts=accounts)

    assert (result["downloaded"], result["failed"]) == (4, 0)
    with Ledger(tmp_path / "bursts" / ".phidown_ledger.sqlite", readonly=True) as ledger:
        assert {row.account for row in ledger.rows()} == {"user0", "user1"}


def test_accounts_refuse_s3_and_bad_files(env, tmp_path):
    searcher = CopernicusDataSearcher()
    frame = [{"Id": "x", "Name": "X.SAFE"}]
    with pytest.raises(ValueError, match="over HTTPS"):
        searcher.download_products(frame, verbose=False, transport="s3", accounts="accounts.toml")
    (tmp_path / "empty.toml").write_text("")
    with pytest.raises(ConfigError, match="lists no accounts"):
        searcher.download_products(frame, verbose=False, accounts="empty.toml")
