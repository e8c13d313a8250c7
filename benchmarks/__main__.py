"""``python -m benchmarks [NAME ...] [--quick]``: run some benchmarks, or all of them.

Each benchmark prints a table, writes ``benchmarks/results/<name>.json`` and replaces its
section of ``benchmarks/RESULTS.md``. ``--quick`` runs small versions (a smoke check).
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import sys
from pathlib import Path

NAMES = ("search", "products", "bursts", "bytes", "accounts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run, of {', '.join(NAMES)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small versions, for a smoke check")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    # An installed package runs from bytecode (pip compiles it at install); an editable
    # checkout in an environment with PYTHONDONTWRITEBYTECODE would compile every module
    # at every start (about 50 ms here), which no user pays.
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "phidown_async", quiet=1)
    failed = []
    for name in args.names or NAMES:
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            module.run(quick=args.quick)
        except Exception as exc:  # one benchmark failing must not hide the others' figures
            print(f"{name}: benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
