"""Fixtures for the sandbox tests: a small sandbox on loopback and an HTTP client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from phidown_async.sandbox import Sandbox, SandboxConfig

# Small enough that every product can be downloaded in a test, big enough to span chunks.
SMALL = SandboxConfig(products=12, seed=5, product_size=48 * 1024, burst_size=8 * 1024)


@pytest.fixture
def config() -> SandboxConfig:
    """The sandbox settings; override this fixture in a module to change them."""
    return SMALL


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, config: SandboxConfig) -> Iterator[Sandbox]:
    """A fresh sandbox per test; tests marked ``reads_only`` on SMALL share the session's one."""
    if request.node.get_closest_marker("reads_only") is not None and config == SMALL:
        shared = request.getfixturevalue("small_sandbox")
        assert shared.config == SMALL  # tests/conftest.py's SMALL_CONFIG must be this one
        yield shared
        return
    with Sandbox(config) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(10.0)) as http:
        yield http


@pytest.fixture
def login(sandbox: Sandbox, client: httpx.Client) -> Callable[..., httpx.Response]:
    """POST a password grant (fields overridable) and return the raw response."""

    def grant(**fields: str) -> httpx.Response:
        form = {
            "grant_type": "password",
            "username": sandbox.config.username,
            "password": sandbox.config.password,
            "client_id": "cdse-public",
            **fields,
        }
        return client.post(sandbox.token_url, data=form)

    return grant


@pytest.fixture
def token(login: Callable[..., httpx.Response]) -> str:
    reply = login()
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def value_url(sandbox: Sandbox) -> Callable[..., str]:
    """``value_url(item_id, kind="Products", origin="download")``: a ``$value`` URL."""

    def build(item_id: str, kind: str = "Products", origin: str = "download") -> str:
        endpoints = sandbox.endpoints
        base = endpoints.download_url if origin == "download" else endpoints.catalogue_url
        return f"{base}/{kind}({item_id})/$value"

    return build


@pytest.fixture
def product(sandbox: Sandbox) -> dict[str, Any]:
    """The full catalogue entity (with checksums) of the archive's first product."""
    return sandbox.archive.product(sandbox.archive.products[0]["Id"])


@pytest.fixture
def checksum() -> Callable[[dict[str, Any], str], str]:
    """``checksum(entity, "MD5")``: the catalogue's checksum value of that algorithm."""

    def find(entity: dict[str, Any], algorithm: str) -> str:
        return next(c["Value"] for c in entity["Checksum"] if c["Algorithm"] == algorithm)

    return find
