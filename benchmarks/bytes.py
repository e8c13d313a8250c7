"""The byte path: products served by nginx on loopback over HTTPS and HTTP, side by side.

nginx serves here, not the sandbox, because the Python sandbox itself costs about 0.9 CPU
s/GB on the same two cores. Every client runs in its own process, timed from its start
(interpreter start-up and imports count, as a user waits for them), its CPU the process's
user + system seconds from ``wait4``.

- P2: 4 x 256 MB at once, unthrottled; MB/s and CPU s/GB of the whole client process.
- P1: 24 x 128 MB at 20 MB/s per connection, 4 connections (CDSE's general quota, ideal
  80 MB/s); share of the best peer, every file of ours verified.
- Start-up: ``python -c 'import phidown_async.download'`` alone.
- Memory: peak RSS of ours for one 2 GB product.

Peers: curl (one process per file), aria2c ``-j4``, requests with 4 threads. Ours:
``download_products`` at its default verification (``default``: size, streamed BLAKE3, zip
directory, manifest listing) and, as its own rows, ``full`` (every member CRC and listed
MD5) and a diagnostic without the streamed checksum (what the check costs; not a setting
users have). Two more P2 diagnostics give the floor of any Python client on this machine: the
standard library alone moving the bytes (``clients/products_floor.py``), and the same hashing
them with BLAKE3, the least a client that checks the catalogue's checksum does. nginx and
aria2c are installed with apt-get when missing (and said so when that fails).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blake3 import blake3

from .measure import Measurement, cache_files, run_processes, settle_memory, warm_memory
from .peers import Peer, ensure_aria2c, ensure_curl, ensure_nginx
from .report import WORK, command_line, context_lines, machine, save, say, table

HERE = Path(__file__).resolve().parent
ROOT = HERE / "work" / "bytes"
HTTP_PORT, HTTPS_PORT, HTTP_SLOW, HTTPS_SLOW = 18180, 18543, 18181, 18544
RUNS = 3  # runs per client and test; the median run is reported
QUOTA_RATE = 20_000_000  # bytes/s per connection (CDSE: 20 MB/s)
USER, PASSWORD = "bench@example.com", "bench"
TOKEN = {
    "access_token": "bench-token",
    "expires_in": 600,
    "refresh_token": "r",
    "refresh_expires_in": 3600,
    "token_type": "Bearer",
}

# Two nginx instances: one for the unthrottled servers (one worker, as before), one for
# the rate-capped ones with four workers. nginx's limit_rate waits after each write for as
# long as that write's bytes take at the rate, and then for its own event loop: one worker
# serving four capped connections in turn held 4 curl processes to 59-68 MB/s of 80 (15.6
# MB/s each, all four in lockstep); four workers (reuseport: the kernel spreads the
# connections among them, not always one each) let the same curls reach 77.
_NGINX = """worker_processes {workers};
pid {root}/nginx-{name}.pid;
error_log {root}/nginx-{name}-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  sendfile on;
  default_type application/octet-stream;
  ssl_certificate {root}/server.pem;
  ssl_certificate_key {root}/server.pem;
  {limit}
  server {{ listen 127.0.0.1:{http}{reuse}; {body} }}
  server {{ listen 127.0.0.1:{https} ssl{reuse}; {body} }}
}}
"""
_LOCATIONS = (
    "location = /token {{ default_type application/json; return 200 '{token}'; }} "
    'location ~ "^/odata/v1/Products\\(([-0-9a-f]+)\\)/\\$value$" '
    "{{ alias {root}/www/$1.zip; }} "
    "location /files/ {{ alias {root}/www/; }}"
)


def _product_zip(path: Path, name: str, size: int) -> dict[str, Any]:
    """Write a SAFE-like zip of about ``size`` bytes; return its catalogue entity."""
    payload = os.urandom(1 << 20)
    data_md5 = hashlib.md5()
    chunks = max(1, size >> 20)
    for _ in range(chunks):
        data_md5.update(payload)
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1">'
        '<dataObjectSection><dataObject ID="d1"><byteStream mimeType="image/tiff" '
        f'size="{chunks << 20}"><fileLocation locatorType="URL" href="./measurement/d.tiff"/>'
        f'<checksum checksumName="MD5">{data_md5.hexdigest()}</checksum>'
        "</byteStream></dataObject></dataObjectSection></xfdu:XFDU>\n"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr(f"{name}/manifest.safe", manifest)
        with archive.open(f"{name}/measurement/d.tiff", "w", force_zip64=True) as member:
            for _ in range(chunks):
                member.write(payload)
    md5, b3 = hashlib.md5(), blake3()
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            md5.update(block)
            b3.update(block)
    return {
        "Id": path.stem,
        "Name": name,
        "ContentLength": path.stat().st_size,
        "Checksum": [
            {"Value": md5.hexdigest(), "Algorithm": "MD5"},
            {"Value": b3.hexdigest(), "Algorithm": "BLAKE3"},
        ],
    }


def _products(prefix: str, count: int, size: int) -> list[dict[str, Any]]:
    """``count`` products of ``size`` bytes (made once, kept in benchmarks/work/bytes)."""
    www = ROOT / "www"
    www.mkdir(parents=True, exist_ok=True)
    index = ROOT / f"{prefix}-{count}x{size}.json"
    if index.exists():
        return json.loads(index.read_text())
    say(f"making {count} products of {size / 1e6:.0f} MB ...")
    entities = []
    for i in range(count):
        product_id = f"{prefix}{i:07d}-0000-4000-8000-{size:012d}"
        name = f"S1A_IW_SLC__1SDV_20240101T{i:06d}_BENCH_{prefix}.SAFE"
        entities.append(_product_zip(www / f"{product_id}.zip", name, size))
    index.write_text(json.dumps(entities))
    return entities


def _certificates() -> Path:
    import trustme

    ca_file = ROOT / "ca.pem"
    if not ca_file.exists():
        authority = trustme.CA()
        authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
            str(ROOT / "server.pem")
        )
        authority.cert_pem.write_to_path(str(ca_file))
    return ca_file


class Nginx:
    """nginx serving the products, a token and plain files: unthrottled on two loopback
    ports (one worker), capped at `QUOTA_RATE` per connection on two others (four
    workers)."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.confs = {"fast": ROOT / "nginx-fast.conf", "capped": ROOT / "nginx-capped.conf"}

    def __enter__(self) -> Nginx:
        body = _LOCATIONS.format(root=ROOT, token=json.dumps(TOKEN))
        settings = {
            "fast": {
                "workers": 1,
                "limit": "",
                "reuse": "",
                "http": HTTP_PORT,
                "https": HTTPS_PORT,
            },
            "capped": {
                "workers": 4,
                "limit": f"limit_rate {QUOTA_RATE};",
                "reuse": " reuseport",
                "http": HTTP_SLOW,
                "https": HTTPS_SLOW,
            },
        }
        try:
            for name, conf in self.confs.items():
                conf.write_text(_NGINX.format(root=ROOT, name=name, body=body, **settings[name]))
                subprocess.run([self.program, "-c", str(conf)], check=True)
        except BaseException:
            self.__exit__()  # an instance that did start must not keep its ports
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for conf in self.confs.values():
            if conf.exists():
                subprocess.run(
                    [self.program, "-c", str(conf), "-s", "stop"], check=False, capture_output=True
                )


def _base(scheme: str, slow: bool) -> str:
    port = {
        ("https", False): HTTPS_PORT,
        ("http", False): HTTP_PORT,
        ("https", True): HTTPS_SLOW,
        ("http", True): HTTP_SLOW,
    }[(scheme, slow)]
    return f"{scheme}://127.0.0.1:{port}"


def _env(ca_file: Path, base: str) -> dict[str, str]:
    return {
        **os.environ,
        "PHIDOWN_CATALOGUE_URL": f"{base}/odata/v1",
        "PHIDOWN_DOWNLOAD_URL": f"{base}/odata/v1",
        "PHIDOWN_TOKEN_URL": f"{base}/token",
        "CDSE_USERNAME": USER,
        "CDSE_PASSWORD": PASSWORD,
        "SSL_CERT_FILE": str(ca_file),
        "REQUESTS_CA_BUNDLE": str(ca_file),
    }


def _fresh(out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


def _commands(
    tool: str,
    entities: list[dict[str, Any]],
    base: str,
    out: Path,
    ca_file: Path,
    peers: dict[str, Peer],
) -> list[list[str]] | None:
    urls = [f"{base}/files/{e['Id']}.zip" for e in entities]
    if tool.startswith("phidown_async"):
        listing = out.parent / f"{out.name}-entities.json"
        listing.write_text(json.dumps(entities))
        level = "full" if "full" in tool else "default"
        args = {
            "entities": str(listing),
            "out": str(out),
            "connections": 4,
            "workers": 6,
            "verify": level,
            "checksum": tool != NO_CHECKSUM,
        }
        return [[sys.executable, str(HERE / "clients" / "products_ours.py"), json.dumps(args)]]
    if tool == "curl (4 processes)":
        if not peers["curl"].ok:
            return None
        # Four processes, each fetching its share of the files one after another.
        commands = []
        for first in range(4):
            command = [peers["curl"].program or "curl", "-sS", "--fail", "--cacert", str(ca_file)]
            for entity, url in list(zip(entities, urls, strict=True))[first::4]:
                command += ["-o", str(out / f"{entity['Id']}.zip"), url]
            commands.append(command)
        return commands
    if tool == "aria2c -j4":
        if not peers["aria2c"].ok:
            return None
        listing = out.parent / f"{out.name}-urls.txt"
        listing.write_text("\n".join(urls) + "\n")
        return [
            [
                peers["aria2c"].program or "aria2c",
                "-q",
                "-j4",
                "-x1",
                "-d",
                str(out),
                "-i",
                str(listing),
                f"--ca-certificate={ca_file}",
                "--file-allocation=none",
                "--auto-file-renaming=false",
                "--allow-overwrite=true",
            ]
        ]
    if tool in (FLOOR, FLOOR_BLAKE3):
        args = {
            "token_url": f"{base}/token",
            "username": USER,
            "password": PASSWORD,
            "out": str(out),
            "blake3": tool == FLOOR_BLAKE3,
            "items": [
                {"url": url, "name": f"{e['Id']}.zip", "blake3": _blake3(e)}
                for e, url in zip(entities, urls, strict=True)
            ],
        }
        return [[sys.executable, str(HERE / "clients" / "products_floor.py"), json.dumps(args)]]
    if tool == "requests, 4 threads":
        args = {
            "token_url": f"{base}/token",
            "username": USER,
            "password": PASSWORD,
            "threads": 4,
            "out": str(out),
            "items": [
                {"url": url, "name": f"{e['Id']}.zip"}
                for e, url in zip(entities, urls, strict=True)
            ],
        }
        return [[sys.executable, str(HERE / "clients" / "products_requests.py"), json.dumps(args)]]
    raise ValueError(tool)


NO_CHECKSUM = "phidown_async, no checksum (diagnostic)"
FLOOR = "Python floor: stdlib, 4 threads (diagnostic)"
FLOOR_BLAKE3 = "Python floor + BLAKE3 (diagnostic)"
PEERS = ("curl (4 processes)", "aria2c -j4", "requests, 4 threads")
TOOLS = ("phidown_async", "phidown_async, --verify full", NO_CHECKSUM, *PEERS, FLOOR, FLOOR_BLAKE3)


def _blake3(entity: dict[str, Any]) -> str:
    return next(c["Value"] for c in entity["Checksum"] if c["Algorithm"] == "BLAKE3")


def _one(
    tool: str,
    entities: list[dict[str, Any]],
    scheme: str,
    slow: bool,
    ca_file: Path,
    peers: dict[str, Peer],
    label: str,
) -> dict[str, Any]:
    base = _base(scheme, slow)
    out = _fresh(WORK / "bytes-out" / label)
    commands = _commands(tool, entities, base, out, ca_file, peers)
    if commands is None:
        return {"tool": tool, "scheme": scheme, "skipped": "not installed"}
    size = sum(e["ContentLength"] for e in entities)
    # Every run starts with the files to serve in the page cache, no dirty pages left by
    # the one before (or by making the products), and as much warm memory as it will
    # write (see `cache_files`, `settle_memory`).
    cache_files([ROOT / "www" / f"{e['Id']}.zip" for e in entities])
    settle_memory(size)
    measured: Measurement = run_processes(
        commands, env=_env(ca_file, base), logs=WORK / "bytes-logs" / label, timeout=900
    )
    files = [
        out / f"{e['Name']}.zip" if tool.startswith("phidown_async") else out / f"{e['Id']}.zip"
        for e in entities
    ]
    complete = all(
        p.exists() and p.stat().st_size == e["ContentLength"]
        for p, e in zip(files, entities, strict=True)
    )
    report = measured.report
    row = {
        "tool": tool,
        "scheme": scheme,
        "ok": measured.ok and complete,
        "seconds": measured.wall,
        "mb_s": size / 1e6 / measured.wall,
        "cpu_s_per_gb": measured.cpu / (size / 1e9),
        "peak_rss_mb": measured.max_rss_mb,
        "verified": report.get("downloaded") if tool.startswith("phidown_async") else None,
        "stderr": measured.stderr_tail[-300:] if not measured.ok else "",
    }
    shutil.rmtree(out, ignore_errors=True)
    return row


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The middle run by MB/s (a failed or skipped run counts as the slowest), with every
    run's MB/s and CPU s/GB kept beside it."""
    ranked = sorted(runs, key=lambda r: r.get("mb_s", 0.0) if r.get("ok") else -1.0)
    middle = dict(ranked[len(ranked) // 2])
    middle["runs"] = [
        {"mb_s": r.get("mb_s"), "cpu_s_per_gb": r.get("cpu_s_per_gb"), "ok": r.get("ok")}
        for r in runs
    ]
    return middle


def startup() -> float:
    """Seconds to start Python and import the download API (median of 5)."""
    times = []
    for _ in range(5):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import phidown_async.download"], check=True)
        times.append(time.monotonic() - started)
    return sorted(times)[2]


def run(quick: bool = False) -> dict[str, Any]:
    info = machine()
    nginx, aria2c, curl = ensure_nginx(), ensure_aria2c(), ensure_curl()
    if not nginx.ok:
        say(f"bytes: skipped, {nginx.skipped}")
        return {}
    ROOT.mkdir(parents=True, exist_ok=True)
    ca_file = _certificates()
    p2_size, p1_count, p1_size = (32 << 20, 8, 16 << 20) if quick else (256 << 20, 24, 128 << 20)
    p2 = _products("a", 4, p2_size)
    p1 = _products("b", p1_count, p1_size)
    big = _products("c", 1, (256 << 20) if quick else (2 << 30))
    peers = {"curl": curl, "aria2c": aria2c}
    data: dict[str, Any] = {
        "machine": info,
        "quick": quick,
        "p2": [],
        "p1": [],
        "p2_set": f"4 x {p2_size >> 20} MiB",
        "p1_set": f"{p1_count} x {p1_size >> 20} MiB",
    }
    with warm_memory() as memory, Nginx(nginx.program or "nginx"):
        data["memory_note"] = memory
        for scheme in ("https", "http"):
            # Single runs on a small VM vary up to 2x (P2) and nginx's rate cap is itself
            # lossy and uneven (P1): every client runs RUNS times, in turns, and its median
            # run (by MB/s) is reported with all runs beside it.
            for test, entities, slow in (("p2", p2, False), ("p1", p1, True)):
                tools = [t for t in TOOLS if test == "p2" or t in ("phidown_async", *PEERS)]
                runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
                for turn in range(1 if quick else RUNS):
                    # Each turn starts with the next client: none always runs first.
                    for tool in tools[turn % len(tools) :] + tools[: turn % len(tools)]:
                        say(f"{test.upper()} {scheme} (run {turn + 1}): {tool} ...")
                        runs[tool].append(_one(tool, entities, scheme, slow, ca_file, peers, test))
                data[test] += [_median(tool_runs) for tool_runs in runs.values()]
        say("memory: one big product ...")
        data["memory"] = _one("phidown_async", big, "https", False, ca_file, peers, "big")
    data["startup_s"] = startup()
    data["skipped_peers"] = {p.name: p.skipped for p in (aria2c, curl) if not p.ok}
    data["ideal_p1_mb_s"] = 4 * QUOTA_RATE / 1e6
    save("bytes", data, _section(data, quick))
    say(_section(data, quick))
    return data


def _rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["tool"],
            r["scheme"],
            f"{r.get('mb_s', 0):.0f}",
            " / ".join(f"{run['mb_s']:.0f}" for run in r.get("runs", []) if run.get("mb_s")),
            f"{r.get('cpu_s_per_gb', 0):.2f}",
            f"{r.get('peak_rss_mb', 0):.0f}",
            "yes" if r.get("ok") else r.get("skipped", "NO"),
        ]
        for r in rows
    ]


def _verdicts(data: dict[str, Any]) -> list[str]:
    lines = []
    for scheme in ("https", "http"):
        p2 = {r["tool"]: r for r in data["p2"] if r["scheme"] == scheme and r.get("ok")}
        ours, curl, req = (
            p2.get("phidown_async"),
            p2.get("curl (4 processes)"),
            p2.get("requests, 4 threads"),
        )
        if ours and curl and req:
            lines.append(
                f"- P2 {scheme.upper()}: {ours['mb_s']:.0f} MB/s = {ours['mb_s'] / req['mb_s']:.2f}"
                f" x requests-threads (target >= 1), {ours['mb_s'] / curl['mb_s']:.2f} x curl "
                f"(target >= 0.6); CPU {ours['cpu_s_per_gb']:.2f} s/GB = "
                f"{ours['cpu_s_per_gb'] / curl['cpu_s_per_gb']:.2f} x curl's (target <= 2)."
            )
            for label, row in (
                ("Without the streamed checksum (diagnostic)", p2.get(NO_CHECKSUM)),
                ("The Python floor (diagnostic)", p2.get(FLOOR)),
                ("The Python floor with BLAKE3 (diagnostic)", p2.get(FLOOR_BLAKE3)),
            ):
                if row:
                    lines.append(
                        f"  {label}: {row['mb_s']:.0f} MB/s = {row['mb_s'] / req['mb_s']:.2f} x "
                        f"requests-threads at {row['cpu_s_per_gb']:.2f} CPU s/GB."
                    )
        p1 = {r["tool"]: r for r in data["p1"] if r["scheme"] == scheme and r.get("ok")}
        peers1 = [r["mb_s"] for tool, r in p1.items() if tool in PEERS]
        if "phidown_async" in p1 and peers1:
            ours1, best = p1["phidown_async"], max(peers1)
            lines.append(
                f"- P1 {scheme.upper()}: {ours1['mb_s']:.1f} MB/s of an ideal "
                f"{data['ideal_p1_mb_s']:.0f}, {ours1['mb_s'] / best:.3f} of the best peer "
                f"(target >= 0.97), {ours1['verified']} files verified."
            )
    memory = data.get("memory", {})
    if memory.get("ok"):
        lines.append(
            f"- Peak RSS for one 2 GB product: {memory['peak_rss_mb']:.0f} MiB (target < 150)."
        )
    lines.append(
        f"- Start-up (python + import phidown_async.download): "
        f"{data['startup_s']:.2f} s, included in every phidown_async row."
    )
    return lines


def _section(data: dict[str, Any], quick: bool) -> str:
    headers = ["client", "scheme", "MB/s", "all runs MB/s", "CPU s/GB", "peak RSS MiB", "complete"]
    runs = 1 if quick else RUNS
    skipped = "; ".join(f"{k}: {v}" for k, v in data.get("skipped_peers", {}).items())
    return "\n\n".join(
        [
            "## Byte path: nginx on loopback, HTTPS and HTTP",
            context_lines(command_line("bytes", quick), data["machine"]),
            "Each client is its own process timed from its start; CPU s/GB is the whole process's "
            "(user + system). nginx serves the files (the Python sandbox would cost ~0.9 CPU s/GB "
            "on the same cores): one worker for P2; four for P1, since one worker pacing four "
            "capped connections held every client to about 62 MB/s. "
            "Before each run: the files it fetches read into the page cache, "
            "dirty pages flushed, and as much memory as it writes touched and freed; "
            f"{data.get('memory_note', '')}." + (f" Missing peers: {skipped}." if skipped else ""),
            f"### P2: {data['p2_set']} at once, unthrottled (median of {runs} runs)",
            table(headers, _rows(data["p2"])),
            f"### P1: {data['p1_set']} at 20 MB/s per connection, 4 connections (ideal 80 "
            f"MB/s; median of {runs} runs)",
            table(headers, _rows(data["p1"])),
            "### Verdicts",
            "\n".join(_verdicts(data)),
        ]
    )
