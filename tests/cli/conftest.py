"""Fixtures of the CLI tests: a sandbox, the CLI in-process and as a real program."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from phidown_async.cli import app
from phidown_async.sandbox import Sandbox, SandboxConfig

# The Po Valley in 2024: 28 Sentinel-1 products and a few hundred bursts in this archive.
AOI = "POLYGON((10.5 45.2, 11.5 45.2, 11.5 45.8, 10.5 45.8, 10.5 45.2))"
PERIOD = ["--start", "2024-01-01", "--end", "2024-12-31"]
PRODUCTS = ["-c", "SENTINEL-1", "--aoi", AOI, *PERIOD]
BURSTS = ["--burst-mode", "--aoi", AOI, "--start", "2024-06-01", "--end", "2024-10-01"]


def cli_program() -> list[str]:
    """The installed console script (or the same entry point through this interpreter)."""
    script = Path(sys.executable).with_name("phidown-async")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from phidown_async.cli import main; main()"]


def sandbox_env(sandbox: Sandbox, home: Path) -> dict[str, str]:
    """The environment of a user pointed at ``sandbox``, as ``phidown-async sandbox`` prints it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDSE_", "AWS_", "PHIDOWN_"))}
    env.update(sandbox.env)
    env["HOME"] = str(home)  # no ~/.netrc of the machine running the tests
    env["COLUMNS"] = "160"
    return env


@pytest.fixture(scope="session")
def sandbox(cdse_sandbox: Sandbox) -> Sandbox:
    """The session's Po Valley sandbox (tests/conftest.py), shared with the README tests."""
    return cdse_sandbox


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def env(sandbox: Sandbox, home: Path) -> dict[str, str]:
    return sandbox_env(sandbox, home)


CliRun = Callable[..., Result]


@pytest.fixture
def cli(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRun:
    """Run ``phidown-async ARGS`` in-process (stdout is not a terminal) in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str, environment: dict[str, str] | None = None) -> Result:
        chosen = environment if environment is not None else env
        # CliRunner only sets variables; clear the ones the chosen environment lacks.
        cleared = {k: None for k in os.environ if k not in chosen}
        return CliRunner().invoke(app, list(args), env={**cleared, **chosen})

    return run


# An accounts file of the two users of `two_users` (see `accounts_env`).
ACCOUNTS = """
[[account]]
name = "alice"
username_env = "ALICE_USER"
password_env = "ALICE_PASS"
connections = 2

[[account]]
name = "bob"
username_env = "BOB_USER"
password_env = "BOB_PASS"
connections = 2
"""


@pytest.fixture
def two_users() -> Iterator[Sandbox]:
    """A sandbox of two users, each with a quota of 2 connections."""
    config = SandboxConfig(seed=7, products=600, product_size=32 * 1024, users=2, max_connections=2)
    with Sandbox(config) as running:
        yield running


def accounts_env(sandbox: Sandbox, home: Path) -> dict[str, str]:
    """The environment of the two users of ``two_users`` in the variables ACCOUNTS names."""
    env = sandbox_env(sandbox, home)
    # Only the accounts file's variables: the environment's own account is not used.
    del env["CDSE_USERNAME"], env["CDSE_PASSWORD"]
    alice, bob = sandbox.users
    env.update(
        ALICE_USER=alice["username"],
        ALICE_PASS=alice["password"],
        BOB_USER=bob["username"],
        BOB_PASS=bob["password"],
    )
    return env
