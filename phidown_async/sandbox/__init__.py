"""Simulated CDSE on loopback: catalogue, tokens, downloads, bursts, S3 and faults.

A contract that tests, benchmarks and outside checks rely on (details in `server`):
``SandboxConfig(users=N)`` / ``phidown-async sandbox --users N`` accepts N accounts, each
with the quota, listed as ``Sandbox.users`` (the CLI's JSON ``"users"``):
``[{"username": ..., "password": ...}]``; ``GET <catalogue URL>/_sandbox/stats``
(``Sandbox.stats()``) answers ``{"users": {USERNAME: {"peak_downloads": int,
"password_grants": int, "refresh_grants": int, "throttled": int}}, "items": {PRODUCT_ID:
bytes_served}}``.

``Sandbox`` is imported on first use, so code that only needs the settings does not load
the web server (the ``sandbox`` extra: starlette, uvicorn, trustme).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..extras import needs
from .settings import FAULT_KINDS, Faults, SandboxConfig

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["FAULT_KINDS", "Faults", "Sandbox", "SandboxConfig"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        with needs("sandbox", "The sandbox"):
            from .server import Sandbox

        return Sandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
