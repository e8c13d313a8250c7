"""The real ``phidown-async`` program: live progress in a terminal, Ctrl-C and resume."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PRODUCTS, CliRun, cli_program, sandbox_env

from phidown_async.cli.results import read_results
from phidown_async.ledger import Ledger
from phidown_async.sandbox import Sandbox, SandboxConfig

# Slow enough (1.5 MB/s per connection, 3 MB per product) that a run lasts a couple of
# seconds: long enough to watch it and to interrupt it half-way. The engine writes in 1 MiB
# chunks, so a part file shows bytes after about 0.7 s.
SLOW = SandboxConfig(seed=7, products=600, product_size=3_000_000, bandwidth=1.5)


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SLOW) as running:
        yield running


@pytest.fixture
def slow_env(slow_sandbox: Sandbox, home: Path) -> dict[str, str]:
    return sandbox_env(slow_sandbox, home)


def run_in_terminal(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> tuple[int, str]:
    """Run the program with a pseudo-terminal as its stdout; return (exit code, output)."""
    main, secondary = pty.openpty()
    terminal = {**env, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    process = subprocess.Popen(
        [*cli_program(), *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=terminal,
        cwd=cwd,
        close_fds=True,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # the program closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(main)
    return code, b"".join(chunks).decode("utf-8", "replace")


class Output:
    """Collects a process's stdout lines in a thread, so waits can be bounded."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_live_progress_in_a_terminal(cli: CliRun, slow_env: dict[str, str], tmp_path: Path) -> None:
    assert (
        cli(
            "search", *PRODUCTS, "--limit", "4", "--out", "four.json", environment=slow_env
        ).exit_code
        == 0
    )

    code, output = run_in_terminal(["download", "four.json", "-o", "data"], slow_env, tmp_path, 60)

    assert code == 0, output
    assert "\x1b[" in output  # drawn with terminal control sequences, not log lines
    assert "Downloading" in output and "ETA" in output
    assert "B/s" in output
    assert "/4 items" in output
    assert "━" in output  # progress bars
    assert "retrying 0" in output
    assert "Download summary" in output
    assert "All 4 items verified." in output
    assert " verified S1A" not in output  # no log lines on a terminal


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(
    cli: CliRun, slow_env: dict[str, str], tmp_path: Path
) -> None:
    assert (
        cli(
            "search", *PRODUCTS, "--limit", "4", "--out", "four.json", environment=slow_env
        ).exit_code
        == 0
    )
    names = read_results(tmp_path / "four.json")["Name"].tolist()
    command = [*cli_program(), "download", "four.json", "-o", "data"]
    data = tmp_path / "data"

    first = subprocess.Popen(
        command,
        env=slow_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(first)
    try:
        wait_for(
            lambda: any(p.stat().st_size > 0 for p in data.glob("*.zip.part")),
            30,
            "the first bytes on disk",
        )
        first.send_signal(signal.SIGINT)
        code = first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
    output.join(10)

    assert code == 130, output.text
    assert "Interrupted." in output.text
    assert "run the same command again" in output.text
    assert "phidown-async download four.json -o data" in output.text
    assert "Traceback" not in output.text
    parts = list(data.glob("*.zip.part"))
    assert any(p.stat().st_size > 0 for p in parts)  # the resume points were kept
    with Ledger(data / ".phidown_ledger.sqlite") as ledger:
        assert ledger.rows("active") == []  # every claim was given back
        assert ledger.summary().done < 4

    second = subprocess.run(
        command, env=slow_env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming at" in second.stdout
    assert "All 4 items verified." in second.stdout
    assert sorted(p.name for p in data.glob("*.zip")) == sorted(f"{n}.zip" for n in names)
    assert not list(data.glob("*.part"))
