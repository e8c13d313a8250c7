"""Small file systems for the CLI tests: a tmpfs of a few MB that can fill up or go read-only.

Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted the test is skipped with
the reason.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import phidown_async

# The subprocesses must run the package under test, also from a git worktree (the
# installed console script imports the checkout it was installed from).
SOURCE_ROOT = str(Path(phidown_async.__file__).resolve().parent.parent)


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@contextmanager
def tmpfs(folder: Path, size: str = "2m") -> Iterator[Path]:
    """``folder`` as a fresh tmpfs of ``size``, unmounted on exit (skips when not allowed)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def remount(folder: Path, options: str) -> None:
    """Change a mounted tmpfs's options (``ro``, ``rw``, ``size=8m``)."""
    done = _mount("-o", f"remount,{options}", str(folder))
    assert done.returncode == 0, done.stderr


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until the file system has no space left; returns it."""
    filler = folder / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        for _ in range(1 << 16):  # bounded: 4 GiB at most
            try:
                handle.write(block)
            except OSError:
                break
    return filler


def program_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the package under test first on the subprocess's import path."""
    return {**env, "PYTHONPATH": SOURCE_ROOT}
