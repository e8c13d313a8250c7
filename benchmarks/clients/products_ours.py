"""Product download client for this project: ``download_products`` on catalogue entities.

Args (JSON, argv[1]): ``{"entities": <file of entity dicts>, "out": <folder>,
"connections": int, "workers": int, "verify": bool or level (default true), "checksum": bool
(default true)}``; the sandbox comes from the PHIDOWN_*/CDSE_* environment.
``"checksum": false`` is a diagnostic, not a setting users have: the streamed hash and its
comparison are patched out, to measure what they cost.
Prints: ``{"downloaded", "failed", "bytes", "seconds", "cpu", "rss_before_mb", "peak_rss_mb",
"failures"}``;
``cpu`` is this process's CPU seconds during the download only (imports excluded),
``rss_before_mb`` its peak memory before the download started (imports done), and
``peak_rss_mb`` its peak memory at the end (``VmHWM``: its own, not inherited from the parent).
"""

import json
import resource
import sys
import time

import anyio

from phidown_async.config import Limits
from phidown_async.download import download_products


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _vmhwm_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _without_checksum() -> None:
    """Count the bytes but hash none, and compare no checksum (the diagnostic)."""
    from phidown_async.download import checksums, transfer

    def count_only(self: checksums.StreamHasher, chunk: bytes | memoryview) -> None:
        self._count += len(chunk)

    checksums.StreamHasher.update = count_only  # type: ignore[method-assign]
    transfer.compare_checksums = lambda *args, **kwargs: None


def main() -> None:
    args = json.loads(sys.argv[1])
    if not args.get("checksum", True):
        _without_checksum()
    with open(args["entities"]) as handle:
        entities = json.load(handle)
    limits = Limits(connections=args["connections"], workers=args["workers"])
    rss_before = _vmhwm_mib()
    cpu_before, started = _cpu(), time.perf_counter()
    verify = args.get("verify", True)
    summary = anyio.run(
        lambda: download_products(entities, args["out"], limits=limits, verify=verify)
    )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu_before
    report = {
        "downloaded": summary.downloaded,
        "failed": summary.failed,
        "bytes": summary.bytes,
        "seconds": seconds,
        "cpu": cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _vmhwm_mib(),
        "failures": [f"{f.name}: {f.reason}" for f in summary.failures][:10],
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
