"""A full disk under the output folder (and its ledger): one line, exit 1, resumable."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import PRODUCTS, CliRun, cli_program
from tmpfs import program_env, remount, tmpfs

from phidown_async.cli.results import read_results


def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_resumes(
    cli: CliRun, env: dict[str, str], tmp_path: Path
) -> None:
    # The 28 products of about 64 kB do not fit in 1 MB.
    assert cli("search", *PRODUCTS, "--out", "all.json").exit_code == 0
    names = read_results(tmp_path / "all.json")["Name"].tolist()
    assert len(names) * 64 * 1024 > 1.5 * 2**20
    command = [*cli_program(), "download", "all.json", "-o", "data"]
    with tmpfs(tmp_path / "data", "1m") as data:
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
        assert list(data.glob("*.zip.part"))  # the resume points are kept

        remount(data, "size=16m")  # space freed
        again = subprocess.run(
            command, env=program_env(env), cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

        assert again.returncode == 0, again.stdout + again.stderr
        assert f"All {len(names)} items verified." in again.stdout
        assert sorted(p.name for p in data.glob("*.zip")) == sorted(f"{n}.zip" for n in names)
        assert not list(data.glob("*.part"))
