"""Tables, JSON files and the sections of RESULTS.md that each benchmark writes."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_DIR = HERE / "results"
WORK = HERE / "work"

_HEADER = """# Benchmark results

Written by `python -m benchmarks` (`make bench`); each section is replaced by the latest run
of its benchmark. Raw figures are in `benchmarks/results/<name>.json`. The sandbox (simulated
CDSE) always runs in a separate process on 127.0.0.1; every client runs in its own process,
so CPU and memory figures are the client's alone.
"""


def engine_version() -> str:
    """The commit the engine was measured at, and whether its files had uncommitted changes."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "--no-optional-locks", *args],
                cwd=HERE.parent,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", "phidown_async").splitlines()
    return f"{commit} + {len(changed)} uncommitted engine file(s)" if changed else commit


def machine() -> dict[str, Any]:
    """Where and on what the figures were measured."""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # Other work on the machine skews the figures; the 1-minute load says how much.
        "load_at_start": round(os.getloadavg()[0], 2),
        "engine": engine_version(),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def save(name: str, data: dict[str, Any], section: str) -> Path:
    """Write ``results/<name>.json`` and replace the ``<name>`` section of RESULTS.md.

    Args:
        name: the benchmark (``search``, ``products``, ``bursts``).
        data: everything measured (JSON-able).
        section: the Markdown body of the section (without its marker comments).

    Returns:
        The JSON file written.
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else _HEADER
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{section.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS_MD.write_text(_ordered(text))
    return path


def _ordered(text: str) -> str:
    """Keep the sections in the order search, products, bursts whatever ran first."""
    order = ("search", "products", "bursts", "bytes", "accounts")
    blocks = {}
    for name in order:
        match = re.search(rf"<!-- begin {name} -->.*?<!-- end {name} -->", text, flags=re.DOTALL)
        if match:
            blocks[name] = match.group(0)
            text = text.replace(match.group(0), "")
    head = re.sub(r"\n{3,}", "\n\n", text).rstrip()
    return head + "\n\n" + "\n\n".join(blocks[n] for n in order if n in blocks) + "\n"


def context_lines(command: str, info: dict[str, Any]) -> str:
    """The command / machine / date lines that open every section."""
    return (
        f"Command: `{command}`  \n"
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"{info['platform']}  \n"
        f"Date: {info['date']}; 1-minute load average at start: {info['load_at_start']}; "
        f"engine at {info.get('engine', 'unknown')}"
    )


def say(text: str = "") -> None:
    """Print progress for the person running the benchmark (the harness is not the engine)."""
    print(text, flush=True)


def command_line(name: str, quick: bool) -> str:
    """How to rerun a benchmark, as written in RESULTS.md."""
    return f".venv/bin/python -m benchmarks {name}" + (" --quick" if quick else "")
