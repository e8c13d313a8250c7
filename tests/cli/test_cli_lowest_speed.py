"""``download --lowest-speed --speed-time``: a stalled download is abandoned and resumed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CliRun, sandbox_env

from phidown_async.sandbox import Faults, Sandbox, SandboxConfig

STALL = 30.0  # far beyond the rule's window, and beyond what the test waits


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # Every product's first request stops sending for STALL seconds halfway through.
    faults = Faults(schedule={"stall": (1,)}, stall_seconds=STALL)
    config = SandboxConfig(seed=5, products=4, product_size=256 * 1024, faults=faults)
    with Sandbox(config) as running:
        yield running


@pytest.fixture
def env(sandbox: Sandbox, home: Path) -> dict[str, str]:
    return sandbox_env(sandbox, home)


def test_a_stalled_download_is_abandoned_and_resumed(cli: CliRun, sandbox: Sandbox) -> None:
    product = sandbox.archive.product(sandbox.archive.products[0]["Id"])
    started = time.monotonic()

    result = cli(
        "download", product["Id"], "-o", "data", "--lowest-speed", "2000", "--speed-time", "1"
    )

    assert result.exit_code == 0, result.output
    assert "the server sent slower than 2.0 KB/s for 1 s" in result.stdout
    assert (Path("data") / f"{product['Name']}.zip").stat().st_size == product["ContentLength"]
    assert time.monotonic() - started < STALL / 3
    served = sandbox.counters.snapshot()["bytes_served"][product["Id"]]
    # The second try resumed from the part: about the product once, not one and a half.
    assert served < product["ContentLength"] * 1.25


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--lowest-speed", "-1"], "--lowest-speed"), (["--speed-time", "-1"], "--speed-time")],
)
def test_negative_values_are_bad_usage(cli: CliRun, args: list[str], option: str) -> None:
    result = cli("download", "x.json", *args)

    assert result.exit_code == 2
    assert option in result.stderr
