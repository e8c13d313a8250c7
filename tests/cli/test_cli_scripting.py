"""The command line for scripts: --version, --json, --dry-run, logging, closed pipes, --help."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import PRODUCTS, CliRun, cli_program, sandbox_env

from phidown_async.cli.results import read_results
from phidown_async.config import CONNECTION_RATE
from phidown_async.sandbox import Sandbox, SandboxConfig

# Modules the root --help must not load (the engine's heavy dependencies).
HEAVY = ("pandas", "numpy", "httpx", "shapely", "anyio", "tenacity", "uvicorn", "starlette")


def saved(cli: CliRun, name: str, *search: str) -> Path:
    result = cli("search", *search, "--out", name)
    assert result.exit_code == 0, result.output
    return Path(name)


def test_version_prints_the_package_version(cli: CliRun) -> None:
    result = cli("--version")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"phidown-async {version('phidown_async')}\n"


def test_shell_completion_is_offered(cli: CliRun) -> None:
    result = cli("--help")

    assert result.exit_code == 0, result.output
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


def test_help_loads_none_of_the_engines_heavy_modules() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "phidown_async.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "phidown_async.cli.download" in imported  # the listing is read right
    loaded = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert loaded == []


@pytest.mark.parametrize(
    "output", [[], ["--out", "-"], ["--out", "-", "--format", "geojson"], ["--json"]]
)
def test_a_closed_pipe_ends_quietly_with_exit_0(
    env: dict[str, str], tmp_path: Path, output: list[str]
) -> None:
    # The reader is gone before the first write, as after `| head -1` has read its line.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [*cli_program(), "search", *PRODUCTS, *output],
            stdout=writer,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_head_reads_the_first_line_and_the_pipeline_exits_0(
    env: dict[str, str], tmp_path: Path
) -> None:
    program = " ".join(cli_program())
    aoi = PRODUCTS[PRODUCTS.index("--aoi") + 1]
    command = f"set -o pipefail; {program} search -c SENTINEL-1 --aoi '{aoi}' | head -1"

    done = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("products")
    assert "Error" not in done.stderr and "Exception" not in done.stderr


def test_download_json_is_the_run_summary(cli: CliRun) -> None:
    results = saved(cli, "three.json", *PRODUCTS, "--limit", "3")

    first = cli("download", str(results), "-o", "data", "--json")
    again = cli("download", str(results), "-o", "data", "--json")

    assert first.exit_code == 0, first.output
    run = json.loads(first.stdout)  # nothing else on stdout
    assert (run["items"], run["downloaded"], run["already_there"], run["failed"]) == (3, 3, 0, 0)
    assert run["exit_code"] == 0
    names = read_results(results)["Name"].tolist()
    assert [r["name"] for r in run["results"]] == names
    assert run["bytes"] == sum(r["size"] for r in run["results"]) > 0
    assert all(Path(r["path"]).is_file() for r in run["results"])
    rerun = json.loads(again.stdout)
    assert (rerun["downloaded"], rerun["already_there"], rerun["bytes"]) == (0, 3, 0)


def test_ledger_json_reports_states_and_failures(cli: CliRun) -> None:
    results = saved(cli, "two.json", *PRODUCTS, "--limit", "2")
    assert cli("download", str(results), "-o", "data").exit_code == 0

    result = cli("ledger", "data", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    sizes = read_results(results)["ContentLength"].tolist()
    assert report["states"]["done"] == {"items": 2, "bytes": sum(sizes)}
    assert report["states"]["failed"] == {"items": 0, "bytes": 0}
    assert report["total"] == {"items": 2, "bytes": sum(sizes)}
    assert report["failures"] == []


def test_verbose_logs_each_item_to_stderr_and_quiet_hides_progress(cli: CliRun) -> None:
    results = saved(cli, "two.json", *PRODUCTS, "--limit", "2")

    plain = cli("download", str(results), "-o", "plain")
    verbose = cli("-v", "download", str(results), "-o", "verbose")
    quiet = cli("-q", "download", str(results), "-o", "quiet")

    assert plain.exit_code == verbose.exit_code == quiet.exit_code == 0
    assert "phidown_async.events" not in plain.stderr
    for name in read_results(results)["Name"]:
        assert f"INFO phidown_async.events: verified {name}" in verbose.stderr
        assert f"verified {name}" in plain.stdout  # the progress lines of a pipe
        assert name not in quiet.stdout
    assert "Downloading" not in quiet.stdout
    assert "All 2 items verified." in quiet.stdout


def test_log_file_and_level_send_records_to_the_file(cli: CliRun) -> None:
    results = saved(cli, "one.json", *PRODUCTS, "--limit", "1")

    result = cli("--log-file", "run.log", "--log-level", "debug", "download", str(results))

    assert result.exit_code == 0, result.output
    log = Path("run.log").read_text(encoding="utf-8")
    assert "DEBUG phidown_async.events: " in log and " received " in log
    assert "INFO phidown_async.events: verified" in log
    assert "phidown_async.events" not in result.stderr
    assert logging.getLogger("phidown_async").handlers == []  # released after the command


def test_an_unknown_log_level_is_a_usage_error(cli: CliRun) -> None:
    result = cli("--log-level", "loud", "ledger", ".")

    assert result.exit_code == 2
    assert "--log-level" in result.stderr


@pytest.fixture(scope="module")
def counted() -> Iterator[Sandbox]:
    """A sandbox of this module's own: the dry-run tests read its counters."""
    with Sandbox(SandboxConfig(seed=7, products=600, product_size=64 * 1024)) as running:
        yield running


def test_dry_run_fetches_nothing_and_counts_the_bytes(
    counted: Sandbox, cli: CliRun, home: Path
) -> None:
    env = sandbox_env(counted, home)
    found = cli("search", *PRODUCTS, "--limit", "4", "--out", "four.json", environment=env)
    assert found.exit_code == 0, found.output
    rows = read_results("four.json").to_dict("records")
    fetched = cli("download", rows[0]["Name"], rows[1]["Name"], "-o", "data", environment=env)
    assert fetched.exit_code == 0, fetched.output
    Path("data", f"{rows[2]['Name']}.zip.part").write_bytes(b"x" * 1000)
    counted.counters.reset()

    result = cli(
        "download",
        "four.json",
        "-o",
        "data",
        "--dry-run",
        "--json",
        "--connections",
        "2",
        environment=env,
    )
    human = cli("download", "four.json", "-o", "data", "--dry-run", environment=env)

    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    sizes = [row["ContentLength"] for row in rows]
    assert (plan["items"], plan["to_fetch"], plan["already_there"]) == (4, 2, 2)
    assert plan["bytes_total"] == sum(sizes)
    assert plan["bytes_to_fetch"] == sizes[2] - 1000 + sizes[3]
    assert plan["seconds"] == round(plan["bytes_to_fetch"] / (2 * CONNECTION_RATE), 1)
    assert [item["status"] for item in plan["plan"]] == ["there", "there", "fetch", "fetch"]
    assert plan["plan"][2]["partial"] == 1000
    assert human.exit_code == 0, human.output
    assert "2 to fetch, 2 already there" in human.stdout
    assert "Nothing was downloaded." in human.stdout
    for endpoint in ("product_redirect", "product", "burst", "token"):
        assert counted.counters.requests(endpoint) == 0, endpoint
    assert not Path("data", f"{rows[3]['Name']}.zip").exists()
