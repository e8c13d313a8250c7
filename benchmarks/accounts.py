"""Issue 15: several accounts, in one process and on a local Dask cluster.

(a) Quota-bound: the sandbox gives each of two users 2 connections of 10 MB/s. One account
    alone, both accounts in one process, and both on ``--cluster local:2`` fetch the same
    products; aggregate MB/s over the accounts' ideal (20 MB/s for one, 40 for two).
(b) Unthrottled over HTTPS: one account of 4 connections on ``--cluster local:1`` and
    ``local:2`` (and in one process, for reference): MB/s and CPU seconds per GB of the
    whole process tree (the CLI and its worker processes; the sandbox apart).

Every run is the ``phidown-async download`` command in its own process, measured with
``wait4`` (which includes the worker processes it reaped). "Transfer" figures use the
run's own time (the pool's, as ``--json`` reports it: after planning and cluster start);
"process" figures the whole command's wall time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx

from .measure import run_process, settle_memory, warm_memory
from .report import WORK, command_line, context_lines, machine, save, say, table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROGRAM = str(ROOT / ".venv" / "bin" / "phidown-async")
MB = 1_000_000
CONNECTIONS, BANDWIDTH = 2, 10.0  # per account: connections, MB/s per connection
TARGET = 0.95


def _accounts_file(path: Path, count: int, connections: int) -> Path:
    tables = [
        f'[[account]]\nname = "acct{n}"\nusername_env = "ACCT{n}_USER"\n'
        f'password_env = "ACCT{n}_PASS"\nconnections = {connections}\n'
        for n in range(1, count + 1)
    ]
    path.write_text("\n".join(tables))
    return path


def _env(info: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ, **info["env"])
    for number, user in enumerate(info["users"], start=1):
        env[f"ACCT{number}_USER"] = user["username"]
        env[f"ACCT{number}_PASS"] = user["password"]
    return env


def _ids(info: dict[str, Any], count: int) -> list[dict[str, Any]]:
    url = f"{info['catalogue_url']}/Products"
    params = {"$top": str(count), "$orderby": "ContentDate/Start asc"}
    verify = info["env"].get("SSL_CERT_FILE") or True
    products = httpx.get(url, params=params, timeout=60, verify=verify).json()["value"]
    return products[:count]


def _run(
    name: str, info: dict[str, Any], products: list[dict[str, Any]], extra: list[str]
) -> dict[str, Any]:
    """One download command over ``products``; its figures."""
    out = WORK / "accounts" / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # No dirty pages left by the run before or by the sandbox making its zips (writeback
    # would be charged to whoever runs next: the first run was up to 8x slower), and warm
    # memory for what it writes (`settle_memory`).
    settle_memory(sum(int(p["ContentLength"]) for p in products))
    m = run_process(
        [PROGRAM, "download", *(p["Id"] for p in products), "-o", str(out), "--json", *extra],
        env=_env(info),
        cwd=WORK / "accounts",
        logs=WORK / "logs" / "accounts" / name.replace(" ", "-"),
        timeout=1200,
    )
    whole = sum(
        1
        for p in products
        if (out / f"{p['Name']}.zip").is_file()
        and (out / f"{p['Name']}.zip").stat().st_size == int(p["ContentLength"])
    )
    total = sum(int(p["ContentLength"]) for p in products)
    seconds = float(m.report.get("seconds") or 0)
    shutil.rmtree(out, ignore_errors=True)
    if not m.ok or whole != len(products):
        tail = m.stderr_tail or m.stdout_tail
        raise RuntimeError(f"{name}: exit {m.returncode}, {whole}/{len(products)} whole: {tail}")
    return {
        "items": whole,
        "bytes": total,
        "transfer_seconds": seconds,
        "process_seconds": round(m.wall, 2),
        "transfer_mb_s": round(total / MB / seconds, 1) if seconds else None,
        "process_mb_s": round(total / MB / m.wall, 1),
        "cpu_s_per_gb": round(m.cpu / (total / 1e9), 2),
    }


def _quota(quick: bool) -> dict[str, Any]:
    count, size = (8, 8 * MB) if quick else (24, 40 * MB)
    settings = {
        "products": count,
        "product_size": size,
        "users": 2,
        "max_connections": CONNECTIONS,
        "bandwidth": BANDWIDTH,
        "data_dir": str(WORK / "sandbox" / f"accounts-{count}x{size}"),
    }
    say(f"accounts: (a) {count} products of {size / MB:.0f} MB, 2 users x {CONNECTIONS} x ...")
    from .sandbox import SandboxProcess

    work = WORK / "accounts"
    work.mkdir(parents=True, exist_ok=True)
    one = _accounts_file(work / "one.toml", 1, CONNECTIONS)
    two = _accounts_file(work / "two.toml", 2, CONNECTIONS)
    runs = {
        "1 account, one process": (["--accounts", str(one)], 1),
        "2 accounts, one process": (["--accounts", str(two)], 2),
        "2 accounts, --cluster local:2": (["--accounts", str(two), "--cluster", "local:2"], 2),
    }
    results = {}
    with SandboxProcess(settings, log=WORK / "logs" / "accounts-sandbox.log") as box:
        products = _ids(box.info, count)
        for name, (extra, accounts) in runs.items():
            figures = _run(name, box.info, products, extra)
            ideal = accounts * CONNECTIONS * BANDWIDTH
            figures["ideal_mb_s"] = ideal
            figures["share"] = round((figures["transfer_mb_s"] or 0) / ideal, 3)
            figures["process_share"] = round(figures["process_mb_s"] / ideal, 3)
            results[name] = figures
            say(f"  {name}: {figures}")
    return results


def _unthrottled(quick: bool) -> dict[str, Any]:
    count, size = (4, 32 * MB) if quick else (4, 256 * MB)
    settings = {
        "products": count,
        "product_size": size,
        "max_connections": 4,
        "tls": True,
        "data_dir": str(WORK / "sandbox" / f"accounts-free-{count}x{size}"),
    }
    say(f"accounts: (b) {count} products of {size / MB:.0f} MB over HTTPS, unthrottled ...")
    from .sandbox import SandboxProcess

    runs = {
        "one process": [],
        "--cluster local:1": ["--cluster", "local:1"],
        "--cluster local:2": ["--cluster", "local:2"],
    }
    results = {}
    with SandboxProcess(settings, log=WORK / "logs" / "accounts-free-sandbox.log") as box:
        products = _ids(box.info, count)
        for name, extra in runs.items():
            results[name] = _run(name, box.info, products, ["--connections", "4", *extra])
            say(f"  {name}: {results[name]}")
    return results


def run(quick: bool = False) -> dict[str, Any]:
    """Run the accounts benchmark; print its tables, save JSON and the RESULTS.md section."""
    info = machine()
    with warm_memory() as memory:
        quota = _quota(quick)
        free = _unthrottled(quick)
    quota_rows = [
        [
            name,
            f["ideal_mb_s"],
            f["transfer_mb_s"],
            f["share"],
            f["process_mb_s"],
            f["process_share"],
            f["cpu_s_per_gb"],
        ]
        for name, f in quota.items()
    ]
    free_rows = [
        [name, f["transfer_mb_s"], f["process_mb_s"], f["cpu_s_per_gb"]] for name, f in free.items()
    ]
    two = [f for name, f in quota.items() if name.startswith("2 accounts")]
    met = all(f["share"] >= TARGET for f in two)
    first = next(iter(quota.values()))
    set_a = f"{first['items']} x {first['bytes'] / first['items'] / MB:.0f} MB"
    first_free = next(iter(free.values()))
    set_b = f"{first_free['items']} x {first_free['bytes'] / first_free['items'] / MB:.0f} MB"
    section = "\n\n".join(
        [
            "## Several accounts and a Dask cluster (issue 15)",
            context_lines(command_line("accounts", quick), info),
            f"(a) Quota-bound, {set_a}; each sandbox user {CONNECTIONS} connections x "
            f"{BANDWIDTH:g} MB/s. Share = MB/s over the accounts' ideal; target >= {TARGET} "
            f"for two accounts both ways: {'met' if met else 'NOT met'}.",
            table(
                [
                    "run",
                    "ideal MB/s",
                    "transfer MB/s",
                    "share",
                    "process MB/s",
                    "process share",
                    "CPU s/GB",
                ],
                quota_rows,
            ),
            f"(b) Unthrottled over HTTPS, {set_b}, one account of 4 connections; CPU of the "
            "whole process tree (the command and its worker processes).",
            table(["run", "transfer MB/s", "process MB/s", "CPU s/GB"], free_rows),
            "Transfer figures use the run's own time (after planning and, on a cluster, its "
            "start); process figures the whole command, cluster start included. On this "
            "2-core machine the sandbox serving the bytes shares the cores with every worker "
            "process: (b) shows the cost of processes, not a speed-up a second machine would "
            f"give. Before each run: dirty pages flushed, its memory touched and freed; {memory}.",
        ]
    )
    data = {"machine": info, "quota": quota, "unthrottled": free, "target_met": met}
    save("accounts", data, section)
    say(section)
    return data
