"""Issue 4: product downloads against aria2c, curl and a requests-threads client.

(a) Quota-bound: the sandbox allows 4 connections of 20 MB/s each; 24 products of 100 MB
    (8 x 16 MB with ``--quick``). Achieved throughput over the ideal 4 x 20 MB/s.
(b) Unthrottled loopback: 4 products of 256 MiB (64 MiB quick); MB/s and CPU seconds per GB.
(c) Peak memory of this project downloading one 2 GiB product, then one 512 MiB product
    (256 / 64 MiB quick): it should not grow with the file.

Every client runs in its own process and is measured with ``wait4``; a run counts only the
files that arrived whole (size equal to the catalogue's ``ContentLength``). Peers fetch the
download host's URL directly with ``Authorization: Bearer`` (as CDSETool and aria2c users
do); phidown_async starts at the catalogue URL and follows its redirect.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
from pathlib import Path
from typing import Any

import blake3
import httpx

from .measure import Measurement, run_process, run_processes
from .peers import Peer, ensure_aria2c, ensure_curl
from .report import WORK, command_line, context_lines, machine, save, say, table
from .sandbox import SandboxProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLIENTS = HERE / "clients"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
MB = 1_000_000
MIB = 1 << 20
LIMIT_MIB = 150 * MB / MIB  # target (c), 150 MB
QUOTA, BANDWIDTH = 4, 20.0  # connections, MB/s per connection (CDSE's general quota)
OURS = "phidown_async"
# Diagnostic variants: where the time goes (not the configuration the targets are about).
OURS_W4 = "phidown_async, 4 workers (diagnostic)"
OURS_NOVERIFY = "phidown_async, verify=False (diagnostic)"
_OURS_SETTINGS = {
    # The default: two more workers than connections (Limits.workers).
    OURS: {"workers": QUOTA + 2, "verify": True},
    OURS_W4: {"workers": QUOTA, "verify": True},
    OURS_NOVERIFY: {"workers": QUOTA + 2, "verify": False},
}
REQUESTS = "requests-threads (4)"
ARIA2C = "aria2c -j4 -x1"
CURL = "curl x4 processes"


class Bench:
    """One sandbox and its products, and how to run each tool against it.

    Args:
        box: the running sandbox.
        name: the scenario, for folder names.
    """

    def __init__(self, box: SandboxProcess, name: str) -> None:
        self.info = box.info
        self.server_pid = box.pid
        self.env = dict(os.environ, **box.info["env"])
        self.name = name
        self.work = WORK / "products" / name
        self.logs = WORK / "logs" / "products" / name
        self.entities = _entities(self.info["catalogue_url"])
        self.entities_file = self.work / "entities.json"
        self.work.mkdir(parents=True, exist_ok=True)
        self.entities_file.write_text(json.dumps(self.entities))
        self.total = sum(int(e["ContentLength"]) for e in self.entities)
        self.runs = 0

    def _out(self) -> Path:
        out = self.work / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return out

    def _items(self) -> list[dict[str, str]]:
        download = self.info["download_url"]
        return [
            {"url": f"{download}/Products({e['Id']})/$value", "name": f"{e['Name']}.zip"}
            for e in self.entities
        ]

    def _token(self) -> str:
        form = {
            "grant_type": "password",
            "client_id": "cdse-public",
            "username": self.info["username"],
            "password": self.info["password"],
        }
        response = httpx.post(self.info["token_url"], data=form, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def run(self, tool: str, program: str | None = None) -> dict[str, Any]:
        """Run one tool over every product; return its figures (and remove its files)."""
        self.runs += 1
        out, logs = self._out(), self.logs / f"{self.runs}-{tool.split()[0]}"
        server_before = _process_cpu(self.server_pid)
        if tool in _OURS_SETTINGS:
            args = {
                "entities": str(self.entities_file),
                "out": str(out),
                "connections": QUOTA,
                **_OURS_SETTINGS[tool],
            }
            m = run_process(
                [PYTHON, str(CLIENTS / "products_ours.py"), json.dumps(args)],
                env=self.env,
                cwd=ROOT,
                logs=logs,
            )
        elif tool == REQUESTS:
            args = {
                "token_url": self.info["token_url"],
                "username": self.info["username"],
                "password": self.info["password"],
                "threads": QUOTA,
                "out": str(out),
                "items": self._items(),
            }
            m = run_process(
                [PYTHON, str(CLIENTS / "products_requests.py"), json.dumps(args)],
                env=self.env,
                cwd=ROOT,
                logs=logs,
            )
        elif tool == ARIA2C:
            assert program is not None
            listing = self.work / "aria2c-input.txt"
            listing.write_text(
                "".join(f"{item['url']}\n  out={item['name']}\n" for item in self._items())
            )
            m = run_process(
                [
                    program,
                    "-j4",
                    "-x1",
                    "-s1",
                    f"--header=Authorization: Bearer {self._token()}",
                    "-i",
                    str(listing),
                    "-d",
                    str(out),
                    "--file-allocation=none",
                    "--allow-overwrite=true",
                    "--auto-file-renaming=false",
                    "--console-log-level=warn",
                    "--summary-interval=0",
                    "--download-result=hide",
                ],
                env=self.env,
                cwd=ROOT,
                logs=logs,
            )
        elif tool == CURL:
            assert program is not None
            token = self._token()
            m = run_processes(
                [
                    [
                        program,
                        "-sS",
                        "--fail",
                        "-H",
                        f"Authorization: Bearer {token}",
                        "-o",
                        str(out / item["name"]),
                        item["url"],
                    ]
                    for item in self._items()
                ],
                env=self.env,
                cwd=ROOT,
                logs=logs,
            )
        else:
            raise ValueError(f"unknown tool {tool}")
        figures = self._figures(tool, m, out)
        served = _process_cpu(self.server_pid) - server_before
        gb = figures["bytes"] / 1e9
        figures["server_cpu_per_gb"] = served / gb if gb else None
        shutil.rmtree(out, ignore_errors=True)
        return figures

    def _figures(self, tool: str, m: Measurement, out: Path) -> dict[str, Any]:
        whole, arrived = 0, 0
        for entity in self.entities:
            path = out / f"{entity['Name']}.zip"
            if path.is_file() and path.stat().st_size == int(entity["ContentLength"]):
                whole += 1
                arrived += path.stat().st_size
        # Python clients time the download itself; aria2c and curl start in milliseconds.
        seconds = m.report.get("seconds", m.wall)
        figures = {
            "tool": tool,
            "files": whole,
            "expected_files": len(self.entities),
            "bytes": arrived,
            "seconds": seconds,
            "mb_per_s": arrived / MB / seconds if seconds > 0 else 0.0,
            "process_wall": m.wall,
            "cpu_process": m.cpu,
            "cpu_transfer": m.report.get("cpu", m.cpu),
            "max_rss_mb": m.max_rss_mb,
            "rss_before_mb": m.report.get("rss_before_mb"),
            "returncode": m.returncode,
        }
        gb = arrived / 1e9
        figures["cpu_per_gb_process"] = m.cpu / gb if gb else None
        figures["cpu_per_gb_transfer"] = figures["cpu_transfer"] / gb if gb else None
        if whole < len(self.entities) or not m.ok:
            figures["error"] = (
                "; ".join(m.report.get("failures", []))
                or m.stderr_tail[-600:]
                or f"exit {m.returncode}"
            )
        say(
            f"  {self.name}: {tool}: {whole}/{len(self.entities)} files, "
            f"{figures['mb_per_s']:.1f} MB/s, {seconds:.2f} s, CPU {m.cpu:.2f} s, "
            f"RSS {m.max_rss_mb:.0f} MiB"
            + (f", ERROR {figures['error']}" if "error" in figures else "")
        )
        return figures


def _entities(catalogue_url: str) -> list[dict[str, Any]]:
    """Every product of the sandbox, with sizes and checksums (its archive is just these)."""
    url = f"{catalogue_url}/Products"
    params = {"$top": "1000", "$expand": "Attributes", "$orderby": "ContentDate/Start asc"}
    body = httpx.get(url, params=params, timeout=300).json()
    return list(body["value"])


def _data_dir(count: int, size: int) -> Path:
    """Where the sandbox keeps an archive of ``count`` products of ``size`` (reused by reruns)."""
    return WORK / "sandbox" / f"products-{count}x{size}"


def _sandbox(name: str, count: int, size: int, bandwidth: float | None) -> SandboxProcess:
    settings: dict[str, Any] = {
        "products": count,
        "product_size": size,
        "max_connections": QUOTA,
        "bandwidth": bandwidth,
        "data_dir": str(_data_dir(count, size)),
        "warm": "all",
    }
    say(
        f"products: starting the sandbox for ({name}): {count} x {size / MIB:.0f} MiB "
        "(the first run writes the zips) ..."
    )
    return SandboxProcess(settings, log=WORK / "logs" / f"products-{name}-sandbox.log")


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput, plus every run's MB/s."""
    ordered = sorted(runs, key=lambda r: r["mb_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["mb_per_s_all"] = [r["mb_per_s"] for r in runs]
    chosen["runs"] = len(runs)
    return chosen


def quota_bound(quick: bool, aria2c: Peer) -> dict[str, Any]:
    """(a): 4 x 20 MB/s; achieved over ideal for each tool."""
    count, size = (8, 16 * MB) if quick else (24, 100 * MB)
    ideal = QUOTA * BANDWIDTH
    results = []
    with _sandbox("a", count, size, BANDWIDTH) as box:
        bench = Bench(box, "a")
        tools = ((OURS, None), (ARIA2C, aria2c.program), (REQUESTS, None), (OURS_W4, None))
        for tool, program in tools:
            if tool == ARIA2C and not aria2c.ok:
                continue
            figures = bench.run(tool, program)
            figures["of_ideal"] = figures["mb_per_s"] / ideal
            results.append(figures)
        total = bench.total
    return {
        "products": count,
        "payload_bytes": size,
        "total_bytes": total,
        "ideal_mb_per_s": ideal,
        "nproc": os.cpu_count(),
        "results": results,
    }


def unthrottled(quick: bool, aria2c: Peer, curl: Peer) -> dict[str, Any]:
    """(b): 4 x 256 MiB on plain loopback; MB/s and CPU per GB (median of 3 runs)."""
    size = (64 if quick else 256) * MIB
    rounds = 1 if quick else 3
    tools = [(OURS, None), (REQUESTS, None)]
    tools += [(ARIA2C, aria2c.program)] if aria2c.ok else []
    tools += [(CURL, curl.program)] if curl.ok else []
    tools += [(OURS_NOVERIFY, None)]
    runs: dict[str, list[dict[str, Any]]] = {}
    with _sandbox("b", 4, size, None) as box:
        bench = Bench(box, "b")
        for round_ in range(rounds):
            for tool, program in tools if round_ % 2 == 0 else tools[::-1]:
                runs.setdefault(tool, []).append(bench.run(tool, program))
        total = bench.total
        costs = check_costs(_data_dir(4, size) / "products" / f"{bench.entities[0]['Name']}.zip")
    return {
        "products": 4,
        "payload_bytes": size,
        "total_bytes": total,
        "rounds": rounds,
        "results": [_median_run(r) for r in runs.values()],
        "check_costs": costs,
    }


def check_costs(path: Path) -> dict[str, float]:
    """CPU seconds per GB of each check phidown_async makes, on one product zip.

    Measured in this process, one thread, on the sandbox's own copy of the zip (in the page
    cache after the runs), so the figures are the checks' cost alone.
    """
    from phidown_async.download.archive import verify_zip

    data = path.read_bytes()
    gb = len(data) / 1e9

    def cpu_of(work: Any) -> float:
        before = _cpu()
        work()
        return (_cpu() - before) / gb

    return {
        "blake3": cpu_of(lambda: blake3.blake3(data).digest()),
        "zip_and_manifest": cpu_of(lambda: verify_zip(path)),
        "md5": cpu_of(lambda: hashlib.md5(data, usedforsecurity=False).digest()),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) another process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(quick: bool) -> dict[str, Any]:
    """(c): peak RSS of this project for one big product, then one a quarter of its size."""
    results = []
    for size in (256 * MIB, 64 * MIB) if quick else (2048 * MIB, 512 * MIB):
        with _sandbox(f"c-{size // MIB}MiB", 1, size, None) as box:
            figures = Bench(box, f"c-{size // MIB}MiB").run(OURS)
            figures["payload_bytes"] = size
            results.append(figures)
    return {"results": results}


def run(quick: bool = False) -> dict[str, Any]:
    """Run (a), (b) and (c); print the tables, save JSON and the RESULTS.md section."""
    info = machine()
    aria2c, curl = ensure_aria2c(), ensure_curl()
    skipped = {p.name: p.skipped for p in (aria2c, curl) if not p.ok}
    for name, reason in skipped.items():
        say(f"products: {name} skipped: {reason}")
    data = {
        "benchmark": "products",
        "quick": quick,
        "machine": info,
        "skipped": skipped,
        "quota_bound": quota_bound(quick, aria2c),
        "unthrottled": unthrottled(quick, aria2c, curl),
        "memory": memory(quick),
    }
    section = _section(data, quick)
    save("products", data, section)
    say(section)
    return data


def _status(r: dict[str, Any]) -> str:
    done = f"{r['files']}/{r['expected_files']}"
    return done if "error" not in r else f"{done} ({r['error'][:80]})"


def _section(data: dict[str, Any], quick: bool) -> str:
    a, b, c = data["quota_bound"], data["unthrottled"], data["memory"]
    lines = [
        "## Products (issue 4)",
        "",
        context_lines(command_line("products", quick), data["machine"]),
        "",
        "Files count only when whole (size = the catalogue's `ContentLength`). Seconds: the "
        "download call inside Python clients (token included, interpreter start and imports "
        "excluded), the whole process for aria2c and curl. phidown_async also hashes every "
        "byte (BLAKE3, checked against the catalogue) and checks every zip member (CRC) and "
        "every file `manifest.safe` lists (size and MD5) before a file counts; the peers "
        "check nothing. Sandbox CPU s/GB: what the one-process sandbox spent serving.",
        "",
    ]
    for name, reason in data["skipped"].items():
        lines += [f"**{name} skipped:** {reason}", ""]
    lines += [
        f"### (a) Quota-bound: {a['products']} products x {a['payload_bytes'] / MB:.0f} MB, "
        f"{QUOTA} connections x {BANDWIDTH:.0f} MB/s (ideal {a['ideal_mb_per_s']:.0f} MB/s)",
        "",
        table(
            ["tool", "files", "GB", "seconds", "MB/s", "of ideal", "CPU s/GB (transfer)"],
            [
                [
                    r["tool"],
                    _status(r),
                    r["bytes"] / 1e9,
                    r["seconds"],
                    r["mb_per_s"],
                    f"{100 * r['of_ideal']:.1f}%",
                    r["cpu_per_gb_transfer"],
                ]
                for r in a["results"]
            ],
        ),
        "",
        _target_a(a),
        "",
        _why_a(a),
        "",
        f"### (b) Unthrottled loopback: 4 products x {b['payload_bytes'] / MIB:.0f} MiB "
        f"(median of {b['rounds']} by MB/s)",
        "",
        table(
            [
                "tool",
                "files",
                "MB/s",
                "all runs MB/s",
                "CPU s/GB (process)",
                "CPU s/GB (transfer)",
                "sandbox CPU s/GB",
                "peak RSS MiB",
            ],
            [
                [
                    r["tool"],
                    _status(r),
                    r["mb_per_s"],
                    " / ".join(f"{x:.0f}" for x in r["mb_per_s_all"]),
                    r["cpu_per_gb_process"],
                    r["cpu_per_gb_transfer"],
                    r.get("server_cpu_per_gb"),
                    r["max_rss_mb"],
                ]
                for r in b["results"]
            ],
        ),
        "",
        _target_b(b),
        "",
        _why_b(b),
        "",
        "### (c) Peak memory of phidown_async (one product, unthrottled)",
        "",
        table(
            ["product", "files", "MB/s", "peak RSS MiB", "RSS before download MiB"],
            [
                [
                    f"{r['payload_bytes'] / MIB:,.0f} MiB",
                    _status(r),
                    r["mb_per_s"],
                    r["max_rss_mb"],
                    r["rss_before_mb"],
                ]
                for r in c["results"]
            ],
        ),
        "",
        _target_c(c),
    ]
    return "\n".join(lines)


def _by_tool(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["tool"]: r for r in results}


def _target_a(a: dict[str, Any]) -> str:
    ours = _by_tool(a["results"]).get(OURS)
    if ours is None:
        return "phidown_async did not run."
    met = ours["of_ideal"] >= 0.97 and "error" not in ours
    return (
        f"Target (a) >= 97% of ideal: phidown_async {100 * ours['of_ideal']:.1f}% — "
        f"{'met' if met else 'NOT met'}."
    )


def _target_b(b: dict[str, Any]) -> str:
    tools = _by_tool(b["results"])
    ours, peer, aria = tools.get(OURS), tools.get(REQUESTS), tools.get(ARIA2C)
    if ours is None or peer is None:
        return "Target (b) not evaluated (a tool did not run)."
    ratio = ours["mb_per_s"] / peer["mb_per_s"] if peer["mb_per_s"] else float("inf")
    text = (
        f"Target (b) >= requests-threads: phidown_async {ours['mb_per_s']:.0f} MB/s vs "
        f"{peer['mb_per_s']:.0f} MB/s ({ratio:.2f}x) — "
        f"{'met' if ratio >= 1.0 and 'error' not in ours else 'NOT met'}"
    )
    if aria is not None and aria["mb_per_s"]:
        text += f"; aria2c {aria['mb_per_s']:.0f} MB/s ({ours['mb_per_s'] / aria['mb_per_s']:.2f}x)"
    return text + "."


def _target_c(c: dict[str, Any]) -> str:
    peaks = [r["max_rss_mb"] for r in c["results"]]
    flat = max(peaks) - min(peaks)
    met = max(peaks) < LIMIT_MIB and all("error" not in r for r in c["results"])
    text = (
        f"Target (c) peak RSS < 150 MB ({LIMIT_MIB:.0f} MiB): largest {max(peaks):.0f} MiB, "
        f"{flat:.0f} MiB between the two sizes — {'met' if met else 'NOT met'}."
    )
    before = [r["rss_before_mb"] for r in c["results"] if r.get("rss_before_mb")]
    if before:
        text += (
            f" Most of it is the interpreter with phidown_async imported "
            f"({min(before):.0f} MiB before the download starts); the download itself adds "
            f"{max(peaks) - min(before):.0f} MiB."
        )
    return text


def _why_a(a: dict[str, Any]) -> str:
    tools = _by_tool(a["results"])
    ours, fewer = tools.get(OURS), tools.get(OURS_W4)
    if ours is None or fewer is None:
        return ""
    cores = (ours["cpu_per_gb_transfer"] or 0.0) * a["ideal_mb_per_s"] / 1000
    return (
        f"Why: phidown_async runs 6 workers over the 4 connections by default and reaches "
        f"{100 * ours['of_ideal']:.1f}% (4 workers: {100 * fewer['of_ideal']:.1f}%): a "
        "worker checks its finished file (zip and `manifest.safe`) before it takes the "
        "next product, and with no spare worker its connection idles meanwhile. At the ideal "
        f"{a['ideal_mb_per_s']:.0f} MB/s phidown_async needs {cores:.2f} of a CPU "
        f"({ours['cpu_per_gb_transfer']:.2f} CPU s/GB, see (b)), on a machine whose "
        f"{a.get('nproc', 2)} CPUs also run the sandbox: even throttled, its CPU cost per "
        "GB shows."
    )


def _why_b(b: dict[str, Any]) -> str:
    tools = _by_tool(b["results"])
    ours, plain, peer = tools.get(OURS), tools.get(OURS_NOVERIFY), tools.get(REQUESTS)
    costs = b.get("check_costs") or {}
    if ours is None or peer is None or not costs:
        return ""
    checks = costs["blake3"] + costs["zip_and_manifest"]
    server = peer.get("server_cpu_per_gb") or 0.0
    nproc = os.cpu_count() or 2
    bound = 1000 * nproc / (server + checks + peer["cpu_per_gb_transfer"])
    text = (
        f"Why: the checks alone cost {costs['blake3']:.2f} (BLAKE3 of the file) + "
        f"{costs['zip_and_manifest']:.2f} (every member's CRC and every listed file's MD5: "
        f"the file is read again) = {checks:.2f} CPU s/GB, "
        f"{checks / peer['cpu_per_gb_transfer']:.1f} times what the requests client spends "
        f"in all ({peer['cpu_per_gb_transfer']:.2f}); MD5 of the whole file "
        f"({costs['md5']:.2f}) is no longer computed when the catalogue gives BLAKE3. "
        f"The sandbox spends about {server:.2f} CPU s per GB it serves, on the same "
        f"{nproc} CPUs, so a client that needs C CPU s/GB cannot pass "
        f"{nproc} / ({server:.2f} + C) GB/s. Even with a transfer path as cheap as the "
        f"requests client's, the checks would hold phidown_async to "
        f"{nproc} / ({server:.2f} + {checks:.2f} + {peer['cpu_per_gb_transfer']:.2f}) = "
        f"{bound:.0f} MB/s"
    )
    if bound < peer["mb_per_s"]:
        text += (
            f", below the requests client's {peer['mb_per_s']:.0f} MB/s: on this machine "
            "target (b) cannot be met while every byte is checked."
        )
    else:
        text += "."
    if plain is not None:
        text += (
            f" Without the zip and manifest check (verify=False, BLAKE3 still on) "
            f"phidown_async reaches {plain['mb_per_s']:.0f} MB/s at "
            f"{plain['cpu_per_gb_transfer']:.2f} CPU s/GB; the rest of that is the transfer "
            "path (httpx, httpcore and h11 copy and parse every read in Python, file writes, a "
            "worker-thread hop per megabyte, progress events and ledger updates)."
        )
    return text
