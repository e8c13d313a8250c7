"""The peer tools, installed on first use: phidown 0.1.30 (own venv), aria2c (apt), curl.

Each ``ensure_*`` returns a `Peer`: the program to run, or why the peer is skipped. A failed
install never stops a benchmark; the peer is reported as skipped with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .report import WORK, say

PHIDOWN_VERSION = "0.1.30"
PHIDOWN_VENV = WORK / "phidown-venv"
INSTALL_TIMEOUT = 900.0


@dataclass(frozen=True)
class Peer:
    """A peer tool: ``program`` to run, or ``skipped`` saying why it cannot be."""

    name: str
    program: str | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.program is not None


def _run(command: list[str]) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    detail = (done.stderr or done.stdout).strip().splitlines()
    tail = " / ".join(line for line in detail[-3:] if line)
    return done.returncode == 0, tail


def _phidown_works(python: Path) -> bool:
    check = f"import phidown, shapely; assert phidown.__version__ == {PHIDOWN_VERSION!r}"
    ok, _ = _run([str(python), "-c", check])
    return ok


def ensure_phidown() -> Peer:
    """phidown 0.1.30 (and shapely, which it uses for its coverage column) in its own venv.

    The venv lives in ``benchmarks/work/phidown-venv`` and is made with ``python3 -m venv``.
    """
    python = PHIDOWN_VENV / "bin" / "python"
    if python.exists() and _phidown_works(python):
        return Peer("phidown", str(python))
    say(f"installing phidown=={PHIDOWN_VERSION} into {PHIDOWN_VENV} ...")
    base = shutil.which("python3") or sys.executable
    if not python.exists():
        ok, detail = _run([base, "-m", "venv", str(PHIDOWN_VENV)])
        if not ok:
            return Peer("phidown", skipped=f"python3 -m venv failed: {detail}")
    ok, detail = _run(
        [str(python), "-m", "pip", "install", "-q", f"phidown=={PHIDOWN_VERSION}", "shapely"]
    )
    if not ok or not _phidown_works(python):
        return Peer("phidown", skipped=f"pip install phidown=={PHIDOWN_VERSION} failed: {detail}")
    return Peer("phidown", str(python))


_apt_updated = False


def ensure_aria2c() -> Peer:
    """aria2c, installed with apt-get when missing (``apt-get update`` once per run)."""
    global _apt_updated
    found = shutil.which("aria2c")
    if found:
        return Peer("aria2c", found)
    if not shutil.which("apt-get"):
        return Peer("aria2c", skipped="aria2c is not installed and apt-get is not available")
    say("installing aria2 with apt-get ...")
    if not _apt_updated:
        ok, detail = _run(["apt-get", "update"])
        _apt_updated = True
        if not ok:
            return Peer("aria2c", skipped=f"apt-get update failed: {detail}")
    ok, detail = _run(["apt-get", "install", "-y", "aria2"])
    found = shutil.which("aria2c")
    if not ok or not found:
        return Peer("aria2c", skipped=f"apt-get install -y aria2 failed: {detail}")
    return Peer("aria2c", found)


def ensure_nginx() -> Peer:
    """nginx (the byte-path benchmark's server), installed with apt-get when missing."""
    global _apt_updated
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return Peer("nginx", found)
    if not shutil.which("apt-get"):
        return Peer("nginx", skipped="nginx is not installed and apt-get is not available")
    say("installing nginx with apt-get ...")
    if not _apt_updated:
        _run(["apt-get", "update"])
        _apt_updated = True
    ok, detail = _run(["apt-get", "install", "-y", "nginx"])
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if not ok or not found:
        return Peer("nginx", skipped=f"apt-get install -y nginx failed: {detail}")
    return Peer("nginx", found)


def ensure_curl() -> Peer:
    """curl (present on the machine; not installed by the benchmark)."""
    found = shutil.which("curl")
    return Peer("curl", found) if found else Peer("curl", skipped="curl is not installed")
