"""Session-scoped sandboxes shared by tests that only read from them.

Starting a sandbox builds its synthetic archive (a second for 600 products, two for 25,000
bulk products) and stopping it waits for uvicorn; one instance per configuration for the
whole run saves that cost for every module that would otherwise start its own.

Rules for these fixtures: a test that uses one must not change its settings (``update``,
``set_faults``) nor read its counters; a test that does either starts its own sandbox. The
checks at teardown of each shared sandbox (``_shared``) catch a test that broke the first rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from phidown_async.sandbox import SandboxConfig

# The Po Valley archive of the CLI tests and the README examples (28 Sentinel-1 products and
# a few hundred bursts over the README's AOI in 2024).
CDSE_CONFIG = SandboxConfig(seed=7, products=600, product_size=64 * 1024, burst_size=8 * 1024)
# 25,000 Sentinel-1 GRD products and 25,000 bursts over Brussels in March 2024.
BULK_CONFIG = SandboxConfig(products=10, seed=4, bulk_products=25_000, bulk_bursts=25_000)
# Small enough that every product can be downloaded in a test, big enough to span chunks.
SMALL_CONFIG = SandboxConfig(products=12, seed=5, product_size=48 * 1024, burst_size=8 * 1024)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reads_only: the test neither changes the sandbox's settings nor reads its counters, "
        "so it may use the session's shared sandbox",
    )
    config.addinivalue_line("markers", "slow: a long end-to-end run (still part of make test)")


def _shared(config: SandboxConfig) -> Iterator[object]:
    from phidown_async.sandbox import Sandbox

    with Sandbox(config) as running:
        yield running
        assert running.config == config, "a test changed the settings of a shared sandbox"


@pytest.fixture(scope="session")
def cdse_sandbox() -> Iterator[object]:
    """The Po Valley sandbox (CDSE_CONFIG), read only."""
    yield from _shared(CDSE_CONFIG)


@pytest.fixture(scope="session")
def bulk_sandbox() -> Iterator[object]:
    """The sandbox with tens of thousands of matches (BULK_CONFIG), read only."""
    yield from _shared(BULK_CONFIG)


@pytest.fixture(scope="session")
def small_sandbox() -> Iterator[object]:
    """A 12-product sandbox (SMALL_CONFIG), read only."""
    yield from _shared(SMALL_CONFIG)


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Any]]:
    """Start sandboxes with given settings; every one is stopped at the end of the test."""
    # Imported here so the verify tests in this folder do not depend on the sandbox.
    from phidown_async.sandbox import Sandbox, SandboxConfig

    started: list[Any] = []

    def start(**settings: Any) -> Any:
        sandbox = Sandbox(SandboxConfig(**settings))
        sandbox.__enter__()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        sandbox.close()
