"""``--totp`` and ``CDSE_TOTP`` on the commands that log in, against a two-factor sandbox."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from phidown_async.sandbox import Faults, Sandbox, SandboxConfig

CODE = "735102"
PROGRAM = [sys.executable, "-c", "from phidown_async.cli import main; main()"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A sandbox whose account has two-factor authentication (overrides conftest's)."""
    config = SandboxConfig(products=4, seed=9, product_size=16 * 1024, totp=CODE)
    with Sandbox(config) as running:
        yield running


def _a_product(sandbox: Sandbox) -> str:
    return sandbox.archive.products[0]["Id"]


def test_download_with_totp_logs_in(cli, sandbox, tmp_path: Path):
    result = cli("download", _a_product(sandbox), "-o", "out", "--totp", CODE)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.zip"))) == 1
    assert CODE not in result.output


def test_download_takes_the_code_from_cdse_totp(cli, env, sandbox, tmp_path: Path):
    result = cli(
        "download", _a_product(sandbox), "-o", "out", environment={**env, "CDSE_TOTP": CODE}
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.zip"))) == 1


def _fresh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process: this one may already hold the account's login."""
    return subprocess.run([*PROGRAM, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("extra", [[], ["--totp", "999999"]])
def test_download_without_the_right_code_is_refused_in_one_line(env, sandbox, tmp_path, extra):
    ran = _fresh(env, "download", _a_product(sandbox), "-o", str(tmp_path / "out"), *extra)
    assert ran.returncode == 2, ran.stderr
    assert "refused" in ran.stderr and "CDSE_TOTP" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert CODE not in ran.stdout + ran.stderr and "999999" not in ran.stdout + ran.stderr


def test_ledger_retry_failed_logs_in_with_totp(cli, env, sandbox, tmp_path: Path):
    product = sandbox.archive.products[1]["Id"]
    sandbox.set_faults(Faults(schedule={"corrupt": (1,)}))  # each item's first request
    try:
        failed = cli("download", product, "-o", "out", "--retries", "1", "--totp", CODE)
    finally:
        sandbox.set_faults(Faults())
    assert failed.exit_code == 1, failed.output
    out = str(tmp_path / "out")
    # A fresh process must log in, and the sandbox wants the code.
    retried = _fresh(env, "ledger", out, "--retry-failed", "--totp", CODE)
    assert retried.returncode == 0, retried.stderr
    assert len(list((tmp_path / "out").glob("*.zip"))) == 1
