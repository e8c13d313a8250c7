"""Burst download client for this project: ``download_bursts`` on burst entities.

Args (JSON, argv[1]): ``{"entities": <file of burst entity dicts>, "out": <folder>,
"connections": int, "workers": int}``; the sandbox comes from the PHIDOWN_*/CDSE_* env.
Prints: ``{"downloaded", "failed", "files", "seconds", "failures"}``.
"""

import json
import os
import sys
import time

import anyio

from phidown_async.config import Limits
from phidown_async.download.bursts import download_bursts


def main() -> None:
    args = json.loads(sys.argv[1])
    with open(args["entities"]) as handle:
        entities = json.load(handle)
    limits = Limits(connections=args["connections"], workers=args["workers"])
    started = time.perf_counter()
    summary = anyio.run(lambda: download_bursts(entities, args["out"], limits=limits))
    seconds = time.perf_counter() - started
    report = {
        "downloaded": summary.downloaded,
        "failed": summary.failed,
        "files": sum(1 for name in os.listdir(args["out"]) if name.endswith(".zip")),
        "seconds": seconds,
        "failures": [f"{f.id}: {f.reason}" for f in summary.failures][:10],
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
