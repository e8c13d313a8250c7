"""``phidown-async ledger``: counts by state, failures with reasons, retrying them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PRODUCTS, CliRun, sandbox_env

from phidown_async.cli.results import read_results
from phidown_async.sandbox import Faults, Sandbox, SandboxConfig

# The first request of every item gets a corrupt body (right length, wrong bytes).
CORRUPT_FIRST = Faults(schedule={"corrupt": (1,)})


@pytest.fixture
def faulty_sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(seed=7, products=600, product_size=32 * 1024, faults=CORRUPT_FIRST)
    with Sandbox(config) as running:
        yield running


def row(output: str, state: str) -> tuple[int, str]:
    """Items and bytes of one state row of the ledger table."""
    match = re.search(rf"│ {state}\s*│\s*(\d+)\s*│\s*([^│]+?)\s*│", output)
    assert match, output
    return int(match.group(1)), match.group(2)


def test_failures_are_listed_and_retried(
    cli: CliRun, faulty_sandbox: Sandbox, home: Path, tmp_path: Path
) -> None:
    env = sandbox_env(faulty_sandbox, home)
    assert (
        cli("search", *PRODUCTS, "--limit", "3", "--out", "three.json", environment=env).exit_code
        == 0
    )
    names = read_results(tmp_path / "three.json")["Name"].tolist()

    failed = cli("download", "three.json", "-o", "data", "--retries", "1", environment=env)
    assert failed.exit_code == 1
    assert failed.stdout.count("checksum mismatch") >= 3

    shown = cli("ledger", "data", environment=env)
    assert shown.exit_code == 0, shown.output
    assert row(shown.stdout, "failed")[0] == 3
    assert row(shown.stdout, "done")[0] == 0
    assert row(shown.stdout, "total")[0] == 3

    listed = cli("ledger", "data/.phidown_ledger.sqlite", "--failures", environment=env)
    assert listed.exit_code == 0, listed.output
    assert "Failures" in listed.stdout
    text = " ".join(listed.stdout.split())
    assert "checksum mismatch" in text
    for name in names:
        assert name[:40] in listed.stdout.replace("\n", "").replace("│", "").replace(" ", "")

    faulty_sandbox.set_faults(Faults())
    retried = cli("ledger", "data", "--retry-failed", environment=env)
    assert retried.exit_code == 0, retried.output
    assert "All 3 items verified." in retried.stdout
    assert sorted(p.name for p in (tmp_path / "data").glob("*.zip")) == sorted(
        f"{n}.zip" for n in names
    )

    after = cli("ledger", "data", "--failures", environment=env)
    assert row(after.stdout, "done")[0] == 3
    assert row(after.stdout, "failed")[0] == 0
    assert "No failures." in after.stdout


def test_nothing_to_retry(cli: CliRun) -> None:
    assert cli("search", *PRODUCTS, "--limit", "1", "--out", "one.json").exit_code == 0
    assert cli("download", "one.json", "-o", "data").exit_code == 0

    result = cli("ledger", "data", "--retry-failed")

    assert result.exit_code == 0, result.output
    assert row(result.stdout, "done")[0] == 1
    assert "Nothing to retry." in result.stdout


def test_no_ledger_is_a_usage_error(cli: CliRun, tmp_path: Path) -> None:
    result = cli("ledger", str(tmp_path))

    assert result.exit_code == 2
    assert "no ledger at" in result.stderr
    assert not (tmp_path / ".phidown_ledger.sqlite").exists()  # looking never creates one


def test_retrying_products_and_bursts_logs_in_once(cli: CliRun, home: Path) -> None:
    config = SandboxConfig(
        seed=7,
        products=600,
        product_size=16 * 1024,
        burst_size=4 * 1024,
        faults=Faults(schedule={"500": (1,)}),
    )
    with Sandbox(config) as server:
        env = sandbox_env(server, home)
        product = server.archive.products[0]["Id"]
        burst = server.archive.bursts[0]["Id"]
        for kind, item in (("--products", product), ("--bursts", burst)):
            failed = cli("download", item, kind, "-o", "data", "--retries", "1", environment=env)
            assert failed.exit_code == 1, failed.output

        retried = cli("ledger", "data", "--retry-failed", environment=env)

        assert retried.exit_code == 0, retried.output
        # Two downloads and a retry of two kinds: one login for the whole process.
        assert server.counters.snapshot()["token_grants"].get("password", 0) == 1
