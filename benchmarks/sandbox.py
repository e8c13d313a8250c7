"""The sandbox in its own process, so the measured client never shares a GIL with the server.

``phidown-async sandbox`` does not expose every knob a benchmark needs (bulk products,
product sizes, catalogue latency, burst size), so this launcher builds the `SandboxConfig`
itself and, like the CLI, prints one JSON line (URLs, environment, credentials) before
serving until SIGTERM. Before printing it computes every product checksum and (by default)
writes every zip, cached in ``data_dir``, so no measured client pays for generating the
archive.

Run directly: ``python -m benchmarks.sandbox '{"products": 24, "bandwidth": 20}'``.
In Python: ``with SandboxProcess({"products": 24}) as box: box.info["env"]``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 900.0  # generating multi-GB zips the first time takes a while


class SandboxError(RuntimeError):
    """The sandbox process did not come up."""


def _warm(sandbox: Any, level: str) -> None:
    """Compute every product checksum (``digests``) and also write every zip (``all``).

    Both are cached in ``data_dir``, so a second run with the same settings starts at once.
    """
    archive = sandbox.archive
    if level in ("digests", "all"):
        archive.digests(archive.product_records)
    if level == "all":
        for record in archive.product_records:
            archive.product_zip(record.id)
        for record in archive.burst_records:
            archive.burst_zip(record.id)


def serve(settings: dict[str, Any]) -> None:
    """Start a sandbox from ``settings`` (SandboxConfig fields), print its JSON line, serve.

    Raises:
        TypeError: a setting is not a SandboxConfig field.
        ValueError: a setting has an invalid value.
    """
    from phidown_async.cli.sandbox import describe
    from phidown_async.sandbox import Sandbox, SandboxConfig

    settings = dict(settings)
    warm = settings.pop("warm", "all")
    if settings.get("data_dir"):
        settings["data_dir"] = Path(settings["data_dir"])
    config = SandboxConfig(**settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Sandbox(config) as running:
        _warm(running, warm)
        sys.stdout.write(json.dumps(describe(running)) + "\n")
        sys.stdout.flush()
        # Nobody reads the pipe after the announcement: stray output must not fill it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        while not stop.wait(0.5):
            pass


class SandboxProcess:
    """A sandbox served by a child process; always terminated on exit, also on error.

    Args:
        settings: SandboxConfig fields (JSON-able; ``data_dir`` as a string) plus
            ``warm``: ``"all"`` (default: checksums and zips made before announcing),
            ``"digests"`` (checksums only) or ``"none"``.
        log: file receiving the child's stderr.

    Attributes:
        info: the JSON line the sandbox printed (``catalogue_url``, ``env``, ...).
        pid: the child's process id.
    """

    def __init__(self, settings: dict[str, Any], log: Path | None = None) -> None:
        self.settings = settings
        self.log = log
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> SandboxProcess:
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = open(self.log, "ab")  # closed in close()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sandbox", json.dumps(self.settings)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log_handle or subprocess.DEVNULL,
        )
        try:
            self.info = self._read_announcement()
        except BaseException:
            self.close()
            raise
        return self

    def _read_announcement(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        fd = self._proc.stdout.fileno()
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxError(f"the sandbox did not start within {STARTUP_TIMEOUT:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                # os.read, not the buffered reader: select must see every byte still unread.
                data = os.read(fd, 65536)
                if not data:
                    raise SandboxError(
                        f"the sandbox exited with {self._proc.wait()} before announcing itself"
                        + (f"; see {self.log}" if self.log else "")
                    )
                line += data
        return json.loads(line)

    def close(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after 15 s) and reap it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=15)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
