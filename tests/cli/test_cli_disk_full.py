"""A full disk under the output folder (and its ledger): one line, exit 1, resumable."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import AOI, CliRun, cli_program, sandbox_env
from tmpfs import program_env, remount, tmpfs

from phidown_async.cli.results import read_results
from phidown_async.sandbox import Sandbox

# 11 products of about 2 MB in the Po Valley archive (tests/conftest.py), paced at 8 MB/s
# per connection. A download writes its first MiB at once (one read batch), then streams:
# the four connections' downloads are all mid-body when 6 MB fill up.
PRODUCTS = ["-c", "SENTINEL-1", "--aoi", AOI, "--start", "2024-09-01", "--end", "2024-10-31"]
PRODUCT_SIZE = 2_000_000
BANDWIDTH = 8.0


@pytest.fixture
def paced(sandbox_factory: Callable[..., Any]) -> Sandbox:
    """The Po Valley archive with products of PRODUCT_SIZE, served at BANDWIDTH MB/s."""
    return sandbox_factory(seed=7, products=600, product_size=PRODUCT_SIZE, bandwidth=BANDWIDTH)


def in_flight(log: str) -> set[str]:
    """Names the run's log lines show started and never verified, failed or skipped."""
    started = set(re.findall(r"^\S+ started (\S+) \(", log, re.MULTILINE))
    ended = set(
        re.findall(r"^\S+ \[\d+/\d+\] (?:verified|FAILED|skipped) (\S+)", log, re.MULTILINE)
    )
    return started - ended


def kept_bytes(data: Path, name: str) -> int:
    """Bytes of ``name`` on disk: its zip, else its part, else none."""
    for file in (data / f"{name}.zip", data / f"{name}.zip.part"):
        if file.is_file():
            return file.stat().st_size
    return 0


def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_resumes(
    cli: CliRun, paced: Sandbox, home: Path, tmp_path: Path
) -> None:
    env = sandbox_env(paced, home)
    # The 11 products of about 2 MB do not fit in 6 MB.
    assert cli("search", *PRODUCTS, "--out", "all.json", environment=env).exit_code == 0
    found = read_results(tmp_path / "all.json")
    names = found["Name"].tolist()
    sizes = dict(zip(found["Id"], found["ContentLength"], strict=True))
    ids = dict(zip(found["Name"], found["Id"], strict=True))
    assert sum(sizes.values()) > 2 * 6 * 2**20
    command = [*cli_program(), "download", "all.json", "-o", "data"]
    with tmpfs(tmp_path / "data", "6m") as data:
        full = subprocess.run(
            command, env=program_env(env), cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

        assert full.returncode == 1, full.stdout + full.stderr
        assert "Traceback" not in full.stdout + full.stderr
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1, full.stderr
        match = re.fullmatch(
            rf"Error: no space left on {re.escape(str(data))}: (\d+) items? left pending; "
            "free space and run the same command again",
            lines[0],
        )
        assert match, full.stderr
        pending = int(match[1])
        on_disk = list(data.glob("*.zip"))
        # Items without their zip are pending; so is one whose zip landed as the disk filled.
        assert len(names) - len(on_disk) <= pending <= len(names)
        # Every download in flight when the disk filled keeps its bytes: its part (the resume
        # point), or its zip when that landed as the disk filled (the ledger could not say so).
        cut_short = in_flight(full.stdout)
        assert len(cut_short) >= 3, full.stdout
        with_part = {n for n in cut_short if (data / f"{n}.zip.part").is_file()}
        landed = {n for n in cut_short if (data / f"{n}.zip").is_file()}
        assert with_part | landed == cut_short, full.stdout
        assert len(landed) <= 1, full.stdout
        kept = {ids[n]: kept_bytes(data, n) for n in names}
        served_before = {item: paced.counters.bytes_served(item) for item in sizes}

        remount(data, "size=64m")  # space freed
        again = subprocess.run(
            command, env=program_env(env), cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

        assert again.returncode == 0, again.stdout + again.stderr
        assert f"All {len(names)} items verified." in again.stdout
        assert sorted(p.name for p in data.glob("*.zip")) == sorted(f"{n}.zip" for n in names)
        assert not list(data.glob("*.part"))
    # Resumed, not restarted: the rerun was sent exactly what the disk did not hold yet.
    served_again = {i: paced.counters.bytes_served(i) - served_before[i] for i in sizes}
    assert served_again == {i: sizes[i] - kept[i] for i in sizes}
    # So each product crossed the wire about once: twice only what was in transit (read or
    # buffered, not yet written) on the four connections when the disk filled.
    in_transit = sum(served_before.values()) - sum(kept.values())
    assert 0 <= in_transit < 4 * max(sizes.values())
