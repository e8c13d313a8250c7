"""Run a client in its own process and measure it: wall time, CPU time, peak memory.

CPU seconds come from ``wait4`` (the child's own user + system time). Peak memory does not:
Linux carries the parent's high-water RSS into a child's ``ru_maxrss`` across fork/vfork and
exec, so a harness that once held a big buffer would inflate every client's figure. Instead
the harness polls ``VmHWM`` (the high-water RSS of the child's own address space) in
``/proc/<pid>/status`` while the child runs, and takes the child's own report when it gives
one (``peak_rss_mb``). Python clients print one JSON line last, parsed into
``Measurement.report``.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 1800.0


@dataclass
class Measurement:
    """What one client process did.

    Attributes:
        wall: seconds from spawn to exit (all processes, when several ran in parallel).
        cpu: user + system CPU seconds of the process(es).
        max_rss_mb: peak resident memory in MiB (summed over processes run in parallel).
        returncode: exit status (the first non-zero one, for several).
        report: the client's last stdout line parsed as JSON (empty when it printed none).
        stdout_tail, stderr_tail: the last lines of output, for error messages.
    """

    wall: float
    cpu: float
    max_rss_mb: float
    returncode: int
    report: dict[str, Any] = field(default_factory=dict)
    stdout_tail: str = ""
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def vmhwm_mib(pid: int | str = "self") -> float | None:
    """High-water resident memory of a live process in MiB (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# How long freed memory stays with this VM before virtio-balloon's free page reporting may
# hand it back to the host (a parameter of this machine's kernel; absent elsewhere).
_REPORTING_DELAY = Path("/sys/module/page_reporting/parameters/min_free_ms")


@contextmanager
def warm_memory(milliseconds: int = 120_000) -> Iterator[str]:
    """While the benchmarks run, keep freed memory with this VM for ``milliseconds``
    before it may go back to the host; yields what was done, for the report.

    With free page reporting, memory freed for a moment goes back to the host, and writing
    into it again costs the writer 1.3-2.0 CPU s/GB of page faults instead of 0.22
    (measured: 1 GB written right after another 1 GB was freed took 0.22 CPU s, 1-10 s
    later 0.5-1.9). Which client paid it depended on pauses it did not choose, up to 2x on
    a 1 GB run. A bulk pull that keeps writing reuses its own freed page cache, so the
    warm figure is what it pays. Where the knob is missing or not writable, nothing changes.
    """
    try:
        before = _REPORTING_DELAY.read_text().strip()
        _REPORTING_DELAY.write_text(str(milliseconds))
    except OSError:
        yield "freed memory may go back to the host (this kernel has no knob to delay it)"
        return
    try:
        yield f"freed memory kept warm ({_REPORTING_DELAY} = {milliseconds} during the run)"
    finally:
        _REPORTING_DELAY.write_text(before)


def cache_files(paths: Sequence[Path]) -> None:
    """Read ``paths`` once, so that a server sends them from the page cache: this VM's
    kernel reclaims pages nobody touched for a while (DAMON), and the first client after a
    pause would otherwise wait for the disk (measured: 12 s instead of 1.4 for 1 GB)."""
    block = bytearray(8 << 20)
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            while handle.readinto(block):
                pass


def settle_memory(nbytes: int) -> None:
    """Flush dirty pages, then touch ``nbytes`` of memory and free it again, just before a
    measured run, so that every client finds warm memory (see `warm_memory`).

    Anonymous memory, populated by the kernel: a scratch file of that size would start
    writeback (past ``dirty_background_ratio``) that runs on into the measured run.
    """
    os.sync()
    with mmap.mmap(
        -1, max(1, nbytes), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE
    ):
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return {}
    return {}


def run_processes(
    commands: Sequence[Sequence[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    logs: Path,
    timeout: float = DEFAULT_TIMEOUT,
) -> Measurement:
    """Start ``commands`` together, wait for all, and sum their CPU time.

    Args:
        commands: argument vectors, started at once (one for a single client).
        env: the children's environment (default: the harness's).
        cwd: their working directory.
        logs: folder for each child's stdout/stderr files.
        timeout: seconds after which every child still running is killed (then reported
            with return code -9).

    Returns:
        The combined measurement; ``report`` is the first command's JSON line.
    """
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
    started = time.monotonic()
    try:
        for index, command in enumerate(commands):
            out, err = logs / f"{index}.stdout", logs / f"{index}.stderr"
            with open(out, "wb") as out_handle, open(err, "wb") as err_handle:
                proc = subprocess.Popen(
                    list(command),
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    stdout=out_handle,
                    stderr=err_handle,
                    stdin=subprocess.DEVNULL,
                )
            procs.append((proc, out, err))
        cpu, codes = 0.0, []
        peaks: dict[int, float] = {}
        pending = {proc.pid: proc for proc, _, _ in procs}
        killed = False
        while pending:
            if not killed and time.monotonic() - started > timeout:
                for proc in pending.values():
                    proc.send_signal(signal.SIGKILL)
                killed = True
            # Wait for these pids only: the sandbox is a child of the harness too.
            for pid in list(pending):
                peak = vmhwm_mib(pid)
                if peak is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), peak)
                done, status, usage = os.wait4(pid, 0 if killed else os.WNOHANG)
                if done == 0:
                    continue
                proc = pending.pop(pid)
                proc.returncode = os.waitstatus_to_exitcode(status)
                cpu += usage.ru_utime + usage.ru_stime
                codes.append(proc.returncode)
            if pending and not killed:
                time.sleep(0.01)
        wall = time.monotonic() - started
    finally:
        for proc, _, _ in procs:
            if proc.returncode is None and proc.poll() is None:
                proc.kill()
                proc.wait()
    first_out, first_err = procs[0][1], procs[0][2]
    stdout = first_out.read_text(errors="replace") if first_out.exists() else ""
    report = _last_json(stdout)
    # Parallel processes hold their memory at the same time: their peaks add up.
    peak = max(sum(peaks.values()), float(report.get("peak_rss_mb") or 0.0))
    return Measurement(
        wall=wall,
        cpu=cpu,
        max_rss_mb=peak,
        returncode=next((code for code in codes if code != 0), 0),
        report=report,
        stdout_tail="\n".join(stdout.splitlines()[-15:]),
        stderr_tail=_tail(first_err),
    )


def run_process(command: Sequence[str], **kwargs: Any) -> Measurement:
    """One client process; see `run_processes`."""
    return run_processes([command], **kwargs)
