"""Two ``phidown-async download`` processes on one folder: nothing fetched twice, no failure.

Items one process holds are waited for by the other (or left to it with ``--no-wait``).
The second process starts once the ledger shows the first one's claims.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PRODUCTS, CliRun, cli_program, sandbox_env
from tmpfs import program_env

from phidown_async.cli.results import read_results
from phidown_async.errors import PhidownError
from phidown_async.ledger import Ledger
from phidown_async.sandbox import Sandbox, SandboxConfig

# 2 MB at 0.4 MB/s: 5 s a product, so that the second process (a Python start-up on a
# loaded machine: seconds) starts while the first one still holds its items.
SLOW = SandboxConfig(seed=7, products=600, product_size=2_000_000, bandwidth=0.4)


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SLOW) as running:
        yield running


@pytest.fixture
def slow_env(slow_sandbox: Sandbox, home: Path) -> dict[str, str]:
    return program_env(sandbox_env(slow_sandbox, home))


class Program:
    """A running ``phidown-async`` whose output is collected in a thread."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [*cli_program(), *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def finish(self, timeout: float) -> tuple[int, str]:
        """Wait for the exit (killing it after ``timeout``); (exit code, output)."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(10)
        return code, "".join(self.lines)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def claims(ledger: Path) -> int:
    """Items the ledger shows active now (0 before it exists)."""
    if not ledger.is_file():
        return 0
    try:
        with Ledger(ledger, readonly=True) as book:
            return book.summary().active
    except PhidownError:
        return 0  # being created this very moment


def saved(cli: CliRun, env: dict[str, str], count: int) -> list[dict]:
    found = cli("search", *PRODUCTS, "--limit", str(count), "--out", "items.json", environment=env)
    assert found.exit_code == 0, found.output
    return read_results(Path("items.json")).to_dict("records")


def test_the_second_process_waits_for_the_first_and_nothing_is_fetched_twice(
    cli: CliRun, slow_env: dict[str, str], slow_sandbox: Sandbox, tmp_path: Path
) -> None:
    rows = saved(cli, slow_env, 4)
    command = ["download", "items.json", "-o", "data", "--connections", "2", "--workers", "2"]
    ledger = tmp_path / "data" / ".phidown_ledger.sqlite"

    first = Program(command, slow_env, tmp_path)
    try:
        wait_for(lambda: claims(ledger) == 2, 30, "the first process's claims")
        second = Program(command, slow_env, tmp_path)
        second_code, second_output = second.finish(120)
    finally:
        first_code, first_output = first.finish(120)

    assert first_code == 0, first_output
    assert second_code == 0, second_output
    for output in (first_output, second_output):
        assert "All 4 items verified." in output
        assert "FAILED" not in output and "Traceback" not in output
    assert f"held by another process (PID {first.pid})" in second_output
    for row in rows:
        assert slow_sandbox.counters.bytes_served(row["Id"]) == row["ContentLength"]
        assert (tmp_path / "data" / f"{row['Name']}.zip").stat().st_size == row["ContentLength"]
    assert not list((tmp_path / "data").glob("*.part"))


def test_no_wait_leaves_held_items_to_the_other_process(
    cli: CliRun, slow_env: dict[str, str], tmp_path: Path
) -> None:
    rows = saved(cli, slow_env, 2)
    command = ["download", "items.json", "-o", "data", "--connections", "2"]
    ledger = tmp_path / "data" / ".phidown_ledger.sqlite"

    first = Program(command, slow_env, tmp_path)
    try:
        wait_for(lambda: claims(ledger) == 2, 30, "the first process's claims")
        second = Program([*command, "--no-wait"], slow_env, tmp_path)
        second_code, second_output = second.finish(60)
    finally:
        first_code, first_output = first.finish(120)

    assert second_code == 1, second_output  # not verified on disk (yet): not a success
    assert "Held by another process" in second_output
    assert second_output.count(f"held by another process (PID {first.pid})") >= 2
    assert "2 of 2 items are being downloaded by another process" in second_output
    assert "FAILED" not in second_output and "Traceback" not in second_output
    assert first_code == 0, first_output
    assert all((tmp_path / "data" / f"{r['Name']}.zip").is_file() for r in rows)
