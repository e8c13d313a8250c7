"""Fault injection: which request gets which fault, and how a body is damaged.

A download request (product or burst) draws at most one fault: first from ``Faults.schedule``
(by the 1-based number of the request for that item, counted from the moment the faults were
set), otherwise from ``Faults.rates`` with one draw of a generator seeded by the sandbox seed,
so a run is repeatable. Catalogue reads draw from ``Faults.catalogue_rates`` likewise.

Status faults replace the response: 429 is the quota body (DAT-ZIP-100), 500 and 503 are
``{"detail": ...}``, 429 and 503 carry ``Retry-After``; error_page is a 200 with CDSE's old
``{"detail": "Expired signature!"}`` body. Body faults strike half-way through the bytes
being served (download.py): reset and revoke abort the connection (revoke also kills the
access token), short ends it cleanly too early, stall pauses ``stall_seconds``, corrupt
inverts CORRUPT_SPAN bytes.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
from collections import Counter

from starlette.responses import JSONResponse

from .settings import FAULT_KINDS, Faults

STATUS_FAULTS = frozenset({"429", "500", "503", "error_page"})
BODY_FAULTS = frozenset({"reset", "short", "stall", "corrupt", "revoke"})
CORRUPT_SPAN = 64  # bytes inverted by the "corrupt" fault

# Set while a response is broken on purpose, so the log filter below can tell an injected
# abort from a real bug in the sandbox (uvicorn logs both the same way).
_injecting: contextvars.ContextVar[bool] = contextvars.ContextVar("injecting", default=False)


class InjectedFault(Exception):
    """Raised inside a body stream to abort the connection on purpose."""


def mark_injected() -> None:
    """Flag the current request as deliberately broken (its server log lines are dropped)."""
    _injecting.set(True)


class _DropInjected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _injecting.get()


_filter_installed = threading.Event()


def quiet_injected_faults() -> None:
    """Keep uvicorn from logging tracebacks for faults the sandbox injects itself."""
    if not _filter_installed.is_set():
        logging.getLogger("uvicorn.error").addFilter(_DropInjected())
        _filter_installed.set()


class FaultInjector:
    """Chooses the fault of each request.

    Args:
        faults: what to inject.
        seed: seeds the draws (the sandbox seed).
    """

    def __init__(self, faults: Faults, seed: int) -> None:
        self._seed = seed
        # The server loop draws, the test thread reconfigures.
        self._lock = threading.Lock()
        self.configure(faults)

    def configure(self, faults: Faults) -> None:
        """Switch to ``faults``; request numbers and draws start afresh."""
        with self._lock:
            self._faults = faults
            self._seen: Counter[str] = Counter()
            self._rng = random.Random(f"{self._seed}:downloads")
            self._catalogue_rng = random.Random(f"{self._seed}:catalogue")

    @property
    def faults(self) -> Faults:
        return self._faults

    def draw(self, item_id: str) -> str | None:
        """The fault for the next download request of ``item_id`` (None for a clean answer)."""
        with self._lock:
            self._seen[item_id] += 1
            number = self._seen[item_id]
            for kind in FAULT_KINDS:
                if number in self._faults.schedule.get(kind, ()):
                    return kind
            return _pick(self._rng, self._faults.rates)

    def draw_catalogue(self) -> str | None:
        """The fault for the next catalogue read (``"429"``, ``"500"``, ``"503"`` or None)."""
        with self._lock:
            return _pick(self._catalogue_rng, self._faults.catalogue_rates)


def _pick(rng: random.Random, rates: dict[str, float]) -> str | None:
    if not rates:
        return None
    # One draw per request whatever the rates, so changing one rate does not reshuffle
    # which requests get the others.
    point, edge = rng.random(), 0.0
    for kind in FAULT_KINDS:  # catalogue kinds are a subset
        if kind in rates:
            edge += rates[kind]
            if point < edge:
                return kind
    return None


def corrupt(chunk: bytes) -> bytes:
    """``chunk`` with its first CORRUPT_SPAN bytes inverted (same length, other content)."""
    head = bytes(b ^ 0xFF for b in chunk[:CORRUPT_SPAN])
    return head + chunk[CORRUPT_SPAN:]


def plain_fault_response(kind: str, retry_after: float) -> JSONResponse:
    """A ``{"detail": ...}`` error for fault ``kind`` (429/503 carry Retry-After).

    Used for catalogue reads, and for download 500/503 (whose real bodies are unrecorded).
    """
    status = int(kind)
    detail = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}[
        status
    ]
    headers = {"Retry-After": retry_after_header(retry_after)} if status in (429, 503) else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` value for a wait of ``seconds`` (whole seconds, rounded up)."""
    return str(max(0, int(seconds + 0.999)))
