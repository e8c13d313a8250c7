"""The summary tells permanent failures (no rerun helps) from transient ones (a rerun may)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import CliRun

from phidown_async.sandbox import Faults, Sandbox

RERUN = "Run the same command again"


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The session's sandbox; whatever faults a test sets are gone after it."""
    try:
        yield sandbox
    finally:
        sandbox.set_faults(Faults())


def failure_kinds(stdout: str) -> list[str]:
    return re.findall(r"│\s*(permanent|transient)\s*│", stdout)


def test_a_name_not_in_the_catalogue_is_permanent_and_the_suffix_is_suggested(
    cli: CliRun,
) -> None:
    result = cli("download", "S1A_NO_SUCH_PRODUCT", "-o", "data")

    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    assert "did you mean 'S1A_NO_SUCH_PRODUCT.SAFE'?" in out
    assert failure_kinds(result.stdout) == ["permanent"]
    assert "each failure is permanent" in out
    assert RERUN not in out


def test_the_same_corrupt_bytes_every_time_is_permanent(cli: CliRun, faults: Sandbox) -> None:
    product = faults.archive.products[0]["Name"]
    faults.set_faults(Faults(rates={"corrupt": 1.0}))

    result = cli("download", product, "-o", "data", "--retries", "2", "--retry-delay", "0")

    assert result.exit_code == 1, result.output
    assert failure_kinds(result.stdout) == ["permanent"]
    assert RERUN not in result.stdout


def test_server_errors_are_transient_and_a_rerun_is_suggested_for_them_only(
    cli: CliRun, faults: Sandbox
) -> None:
    product = faults.archive.products[1]["Name"]
    faults.set_faults(Faults(rates={"500": 1.0}))

    result = cli("download", product, "S2B_NOT_THERE.SAFE", "-o", "data", "--retries", "1")

    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    assert sorted(failure_kinds(result.stdout)) == ["permanent", "transient"]
    assert "(1 permanent, 1 transient)" in out
    assert f"{RERUN} to retry the transient ones" in out
