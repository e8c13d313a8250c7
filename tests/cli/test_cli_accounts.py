"""``phidown-async download --accounts FILE``: one run over several accounts; bad files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ACCOUNTS, PRODUCTS, CliRun, accounts_env

from phidown_async.ledger import Ledger, NewItem
from phidown_async.sandbox import Sandbox


def one_error_line(output: str) -> str:
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_a_download_shares_its_items_between_the_accounts(
    cli: CliRun, two_users: Sandbox, home: Path, tmp_path: Path
) -> None:
    env = accounts_env(two_users, home)
    (tmp_path / "accounts.toml").write_text(ACCOUNTS)

    result = cli(
        "download", *PRODUCTS, "--limit", "8", "-o", "data", "--accounts", "accounts.toml",
        environment=env,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    with Ledger(tmp_path / "data" / ".phidown_ledger.sqlite", readonly=True) as ledger:
        rows = ledger.rows()
    assert len(rows) == 8 and {row.state for row in rows} == {"done"}
    assert {row.account for row in rows} == {"alice", "bob"}
    stats = two_users.stats()["users"]
    assert all(counts["password_grants"] == 1 for counts in stats.values())
    assert all(counts["peak_downloads"] <= 2 for counts in stats.values())

    shown = cli("ledger", "data", environment=env)
    assert shown.exit_code == 0, shown.output
    assert "Accounts" in shown.stdout
    for name in ("alice", "bob"):
        done = sum(row.account == name for row in rows)
        assert re.search(rf"│ {name}\s*│\s*{done}\s*│\s*0\s*│", shown.stdout), shown.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "accounts.toml lists no accounts"),
        (ACCOUNTS.replace('password_env = "BOB_PASS"', 'password = "x"'), "has a 'password' key"),
        (ACCOUNTS.replace("BOB_PASS", "NOBODY_PASS"), "NOBODY_PASS is not set"),
        (ACCOUNTS.replace('"bob"', '"alice"'), "two accounts are named 'alice'"),
        (ACCOUNTS.replace("connections = 2", "connections = 0", 1), "at least 1"),
    ],
)
def test_a_bad_accounts_file_is_one_line_and_exit_2(
    cli: CliRun, two_users: Sandbox, home: Path, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "accounts.toml").write_text(text)
    result = cli(
        "download",
        "some-id",
        "--accounts",
        "accounts.toml",
        environment=accounts_env(two_users, home),
    )
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result.stderr)
    assert two_users.counters.requests("token") == 0  # refused before any request


def test_accounts_are_for_https(cli: CliRun, two_users: Sandbox, home: Path, tmp_path: Path):
    (tmp_path / "accounts.toml").write_text(ACCOUNTS)
    result = cli(
        "download", "some-id", "--accounts", "accounts.toml", "--transport", "s3",
        environment=accounts_env(two_users, home),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--accounts shares a run among CDSE accounts over HTTPS" in one_error_line(result.stderr)


def test_failed_items_are_retried_with_the_accounts(
    cli: CliRun, two_users: Sandbox, home: Path, tmp_path: Path
) -> None:
    (tmp_path / "accounts.toml").write_text(ACCOUNTS)
    (tmp_path / "data").mkdir()
    products = [two_users.archive.product(p["Id"]) for p in two_users.archive.products[:6]]
    with Ledger(tmp_path / "data" / ".phidown_ledger.sqlite") as ledger:
        ledger.add(NewItem(p["Id"], name=p["Name"], size=p["ContentLength"]) for p in products)
        for product in products:
            ledger.failed(product["Id"], "connection reset", 3)

    result = cli(
        "ledger", "data", "--retry-failed", "--accounts", "accounts.toml",
        environment=accounts_env(two_users, home),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    with Ledger(tmp_path / "data" / ".phidown_ledger.sqlite", readonly=True) as ledger:
        rows = ledger.rows()
    assert {row.state for row in rows} == {"done"} and len(rows) == 6
    assert {row.account for row in rows} == {"alice", "bob"}
