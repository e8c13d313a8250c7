"""SAFE products over S3 (moto in the sandbox): verified folders, bad objects, resume after kill."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from phidown_async.config import DEFAULT_S3_ENDPOINT, Endpoints, Limits, S3Keys
from phidown_async.download.intake import NO_ID_OR_NAME
from phidown_async.download.manifest import parse_manifest, verify_safe_dir
from phidown_async.download.s3 import download_products_s3
from phidown_async.download.s3.objects import s3_endpoint, split_s3_path
from phidown_async.errors import AuthError
from phidown_async.events import EventLog, ItemStarted, QuotaChanged, RetryScheduled
from phidown_async.retry import RetryPolicy
from phidown_async.session import Session

FAST = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02, jitter=0.0, max_retry_after=0.02)
LIMITS = Limits(connections=3, workers=2, chunk_size=8192, timeout=10.0)
# Small parts, so the sandbox's ~35-120 KB files are fetched as ranged parts too.
PARTS = {"part_size": 10 * 1024, "multipart_threshold": 24 * 1024}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from phidown_async.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(products=30, s3=True, s3_products=4)) as running:
        yield running


@pytest.fixture
def keys(sandbox: Any) -> S3Keys:
    return S3Keys(sandbox.config.s3_access_key, sandbox.config.s3_secret_key)


@pytest.fixture
def boto(sandbox: Any) -> Any:
    """A boto3 client straight to moto, to tamper with objects (tests only)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=sandbox.endpoints.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )


def files_of(sandbox: Any, product: dict[str, Any]) -> dict[str, bytes]:
    """The product's files (path inside the SAFE -> bytes) as the sandbox uploaded them."""
    out = {}
    for rel, data in sandbox.archive.product_files(product["Id"]):
        out[rel] = bytes(data) if isinstance(data, bytes | bytearray) else Path(data).read_bytes()
    return out


def key_of(product: dict[str, Any], rel: str) -> str:
    return f"{split_s3_path(product['S3Path'])[1]}/{rel}"


def largest_listed(sandbox: Any, product: dict[str, Any]) -> str:
    files = files_of(sandbox, product)
    manifest = next(n for n in ("manifest.safe", "xfdumanifest.xml") if n in files)
    entries = parse_manifest(files[manifest])
    return max(entries, key=lambda e: e.size or 0).path


class CountingProxy:
    """A loopback HTTP proxy in front of moto that counts requests per (method, path).

    ``delay`` slows every object GET; ``after_get(path)`` runs once a GET was answered;
    ``refuse(path)`` may return ``(status, headers)`` to answer an object GET with an error
    instead; object paths in ``cut`` get half their body once, then a closed connection.
    The Range header of every object GET is kept in ``ranges``.
    """

    def __init__(
        self,
        upstream: str,
        *,
        delay: float = 0.0,
        after_get: Callable[[str], None] | None = None,
        refuse: Callable[[str], tuple[int, dict[str, str]] | None] | None = None,
        cut: set[str] | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.ranges: dict[str, list[str | None]] = {}
        self.delay, self.after_get, self.refuse = delay, after_get, refuse
        self.cut = set(cut or ())
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                path = unquote(urlsplit(self.path).path)
                with proxy._lock:
                    proxy.counts[(self.command, path)] += 1
                is_object = self.command == "GET" and path.count("/") > 1
                if is_object:
                    with proxy._lock:
                        proxy.ranges.setdefault(path, []).append(self.headers.get("Range"))
                if is_object and proxy.delay:
                    time.sleep(proxy.delay)
                refusal = proxy.refuse(path) if is_object and proxy.refuse else None
                if refusal is not None:
                    status, headers = refusal
                    body = b'<?xml version="1.0"?><Error><Code>SlowDown</Code></Error>'
                    self.send_response(status)
                    for name, value in {**headers, "Content-Length": str(len(body))}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                try:
                    conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "server",
                        "date",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with proxy._lock:
                    cut = is_object and path in proxy.cut
                    proxy.cut.discard(path)
                if cut:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    # Let the client read what came before the connection breaks (aiohttp
                    # drops buffered bytes once it has seen the broken end).
                    time.sleep(0.3)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)
                if is_object and proxy.after_get is not None:
                    proxy.after_get(path)

            do_GET = do_HEAD = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def gets(self, key: str) -> int:
        with self._lock:
            return self.counts[("GET", f"/eodata/{key}")]

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def via(sandbox: Any, url: str) -> Endpoints:
    endpoints = sandbox.endpoints
    return Endpoints(endpoints.catalogue_url, endpoints.download_url, endpoints.token_url, url)


# -- tests ----------------------------------------------------------------------------------


async def test_products_download_and_verify(sandbox: Any, keys: S3Keys, tmp_path: Path) -> None:
    products = sandbox.archive.products[:4]
    log = EventLog()
    with CountingProxy(sandbox.endpoints.s3_endpoint) as proxy:
        async with Session(via(sandbox, proxy.url), limits=LIMITS, retry=FAST, sink=log) as session:
            summary = await download_products_s3(
                products, tmp_path, keys=keys, session=session, limits=LIMITS, sink=log, **PARTS
            )
            peak = session.budget.peak
    assert summary.downloaded == 4, [r.reason for r in summary.failures]
    assert 1 < peak <= LIMITS.connections
    for product, result in zip(products, summary.results, strict=True):
        folder = tmp_path / product["Name"]
        assert result.path == folder and result.id == f"s3:{product['Id']}"
        expected = files_of(sandbox, product)
        on_disk = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*")
            if p.is_file()
        }
        assert on_disk == expected
        assert verify_safe_dir(folder) == []
        assert result.size == sum(len(b) for b in expected.values())
        for rel, data in expected.items():
            # Large objects come in 10 KiB ranged parts, small ones in one GET.
            parts = (
                -(-len(data) // PARTS["part_size"])
                if len(data) > PARTS["multipart_threshold"]
                else 1
            )
            assert proxy.gets(key_of(product, rel)) == parts, rel
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith((".partdir", ".s3.json"))]
    assert leftovers == []
    assert len(log.of(ItemStarted)) == 4

    again = await download_products_s3(
        products, tmp_path, keys=keys, endpoints=sandbox.endpoints, limits=LIMITS, retry=FAST
    )
    assert again.skipped == 4 and again.bytes == 0


async def test_corrupt_object_fails_naming_the_file(
    sandbox: Any, keys: S3Keys, boto: Any, tmp_path: Path
) -> None:
    product = sandbox.archive.products[0]
    rel = largest_listed(sandbox, product)
    original = files_of(sandbox, product)[rel]
    boto.put_object(Bucket="eodata", Key=key_of(product, rel), Body=bytes(len(original)))
    try:
        summary = await download_products_s3(
            [product],
            tmp_path,
            keys=keys,
            endpoints=sandbox.endpoints,
            limits=LIMITS,
            retry=FAST,
            **PARTS,
        )
    finally:
        boto.put_object(Bucket="eodata", Key=key_of(product, rel), Body=original)
    result = summary.results[0]
    assert result.status == "failed"
    assert rel in (result.reason or "") and "checksum mismatch" in (result.reason or "")
    # The same wrong bytes on every fetch: corrupt at the source, as over HTTPS.
    assert result.permanent
    assert not (tmp_path / product["Name"]).exists()


async def test_transient_corruption_is_fetched_again(
    sandbox: Any, keys: S3Keys, boto: Any, tmp_path: Path
) -> None:
    product = sandbox.archive.products[3]
    rel = largest_listed(sandbox, product)
    key = key_of(product, rel)
    original = files_of(sandbox, product)[rel]
    boto.put_object(Bucket="eodata", Key=key, Body=bytes(len(original)))
    restored = threading.Event()

    def restore(path: str) -> None:
        if path == f"/eodata/{key}" and not restored.is_set():
            restored.set()
            boto.put_object(Bucket="eodata", Key=key, Body=original)

    # Whole-object GETs here, so "after the first fetch" is one request.
    with CountingProxy(sandbox.endpoints.s3_endpoint, after_get=restore) as proxy:
        try:
            summary = await download_products_s3(
                [product],
                tmp_path,
                keys=keys,
                endpoints=via(sandbox, proxy.url),
                limits=LIMITS,
                retry=FAST,
            )
        finally:
            boto.put_object(Bucket="eodata", Key=key, Body=original)
    assert summary.downloaded == 1, summary.results[0].reason
    assert (tmp_path / product["Name"] / rel).read_bytes() == original
    assert proxy.gets(key) == 2
    others = [r for r in files_of(sandbox, product) if r != rel]
    assert all(proxy.gets(key_of(product, r)) == 1 for r in others)


async def test_listing_missing_a_manifest_file_fails_naming_it(
    sandbox: Any, keys: S3Keys, boto: Any, tmp_path: Path
) -> None:
    product = sandbox.archive.products[2]
    rel = largest_listed(sandbox, product)
    original = files_of(sandbox, product)[rel]
    boto.delete_object(Bucket="eodata", Key=key_of(product, rel))
    try:
        with CountingProxy(sandbox.endpoints.s3_endpoint) as proxy:
            summary = await download_products_s3(
                [product],
                tmp_path,
                keys=keys,
                endpoints=via(sandbox, proxy.url),
                limits=LIMITS,
                retry=FAST,
            )
    finally:
        boto.put_object(Bucket="eodata", Key=key_of(product, rel), Body=original)
    result = summary.results[0]
    assert result.status == "failed"
    assert rel in (result.reason or "") and "lacks" in (result.reason or "")
    # Refused before fetching gigabytes: only the manifest was downloaded.
    object_gets = [p for (m, p), n in proxy.counts.items() if m == "GET" and p.count("/") > 1]
    assert len(object_gets) == 1 and object_gets[0].endswith(("manifest.safe", ".xml"))


async def test_missing_s3_path_and_unknown_prefix_are_failed_results(
    sandbox: Any, keys: S3Keys, tmp_path: Path
) -> None:
    items = [
        {"Id": "a", "Name": "no-path", "S3Path": float("nan")},
        {"Id": "b", "Name": "X.SAFE", "S3Path": "/eodata/Sentinel-1/none/X.SAFE"},
    ]
    summary = await download_products_s3(
        items, tmp_path, keys=keys, endpoints=sandbox.endpoints, limits=LIMITS, retry=FAST
    )
    assert [r.status for r in summary.results] == ["failed", "failed"]
    assert summary.results[0].reason == "No S3Path found"
    assert "no objects under s3://eodata/Sentinel-1/none/X.SAFE/" in (
        summary.results[1].reason or ""
    )


async def test_refused_keys_end_the_run(sandbox: Any, tmp_path: Path) -> None:
    def deny() -> ThreadingHTTPServer:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = (
                    b'<?xml version="1.0"?><Error><Code>InvalidAccessKeyId</Code>'
                    b"<Message>The access key does not exist</Message></Error>"
                )
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    server = deny()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(AuthError, match="InvalidAccessKeyId"):
            await download_products_s3(
                sandbox.archive.products[:1],
                tmp_path,
                keys=S3Keys("wrong", "keys"),
                endpoints=via(sandbox, url),
                limits=LIMITS,
                retry=FAST,
            )
    finally:
        server.shutdown()
        server.server_close()


def test_endpoint_choice() -> None:
    keys = S3Keys("a", "b", "https://eodata.ams.dataspace.copernicus.eu")
    assert s3_endpoint(Endpoints(), keys) == "https://eodata.ams.dataspace.copernicus.eu"
    assert s3_endpoint(Endpoints(s3_endpoint="http://127.0.0.1:9"), keys) == "http://127.0.0.1:9"
    assert s3_endpoint(Endpoints(), S3Keys("a", "b")) == DEFAULT_S3_ENDPOINT
    with pytest.raises(ValueError, match="must start with /eodata/"):
        split_s3_path("/other/x")


_KILLED_RUN = textwrap.dedent(
    """
    import json, sys
    import anyio
    from phidown_async.config import Endpoints, Limits, S3Keys
    from phidown_async.download.s3 import download_products_s3
    from phidown_async.retry import RetryPolicy

    endpoint, access, secret, product, out = sys.argv[1:6]
    anyio.run(lambda: download_products_s3(
        [json.loads(product)], out, keys=S3Keys(access, secret),
        endpoints=Endpoints(s3_endpoint=endpoint),
        limits=Limits(connections=2, workers=1, chunk_size=4096, timeout=10.0),
        retry=RetryPolicy(attempts=2, initial_delay=0.01, jitter=0.0),
        part_size=10 * 1024, multipart_threshold=24 * 1024,
    ))
    """
)


def _completed(partdir: Path, expected: dict[str, bytes]) -> dict[str, tuple[int, int]]:
    """Product files in the folder under construction that got their final name.

    Returns path -> (inode, mtime). Parts, sidecars and a sidecar's temporary file are not
    product files, so only names of the product's listing count.
    """
    found = {}
    for rel in expected:
        try:
            st = (partdir / rel).stat()
        except FileNotFoundError:
            continue
        found[rel] = (st.st_ino, st.st_mtime_ns)
    return found


async def test_resume_after_kill_refetches_no_completed_object(
    sandbox: Any, keys: S3Keys, tmp_path: Path
) -> None:
    product = sandbox.archive.products[3]
    expected = files_of(sandbox, product)
    partdir = tmp_path / f"{product['Name']}.partdir"
    script = tmp_path / "killed_run.py"
    script.write_text(_KILLED_RUN)
    with CountingProxy(sandbox.endpoints.s3_endpoint, delay=0.15) as slow:
        child = subprocess.Popen(
            [
                sys.executable,
                str(script),
                slow.url,
                keys.access_key,
                keys.secret_key,
                json.dumps({k: product[k] for k in ("Id", "Name", "S3Path")}),
                str(tmp_path),
            ],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while len(_completed(partdir, expected)) < 5:
                assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
                assert time.monotonic() < deadline, "the first run made no progress"
                time.sleep(0.05)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
            if child.stderr:
                child.stderr.close()
    before = _completed(partdir, expected)
    assert 5 <= len(before) < len(expected)  # killed mid-product

    with CountingProxy(sandbox.endpoints.s3_endpoint) as counting:
        summary = await download_products_s3(
            [product],
            tmp_path,
            keys=keys,
            endpoints=via(sandbox, counting.url),
            limits=LIMITS,
            retry=FAST,
            **PARTS,
        )
    assert summary.downloaded == 1, summary.results[0].reason
    folder = tmp_path / product["Name"]
    for rel, identity in before.items():
        assert counting.gets(key_of(product, rel)) == 0, rel
        after = folder / rel
        assert (after.stat().st_ino, after.stat().st_mtime_ns) == identity
    unfinished = [rel for rel in expected if rel not in before]
    assert all(counting.gets(key_of(product, rel)) >= 1 for rel in unfinished)
    on_disk = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    assert on_disk == expected
    assert summary.results[0].bytes < sum(len(b) for b in expected.values())


async def test_throttling_is_absorbed_and_lowers_the_budget(
    sandbox: Any, keys: S3Keys, tmp_path: Path
) -> None:
    product = sandbox.archive.products[1]
    refused = Counter[str]()

    def slow_down(path: str) -> tuple[int, dict[str, str]] | None:
        # The first GET of every object is refused as CDSE's S3 would past its quota.
        if refused[path] == 0:
            refused[path] += 1
            return 503, {"Retry-After": "0", "Content-Type": "application/xml"}
        return None

    log = EventLog()
    with CountingProxy(sandbox.endpoints.s3_endpoint, refuse=slow_down) as proxy:
        summary = await download_products_s3(
            [product],
            tmp_path,
            keys=keys,
            endpoints=via(sandbox, proxy.url),
            limits=LIMITS,
            retry=FAST,
            sink=log,
        )
    assert summary.downloaded == 1, summary.results[0].reason
    assert len(refused) == len(files_of(sandbox, product))
    assert any(isinstance(e, QuotaChanged) and e.limit < LIMITS.connections for e in log.events)
    assert any("SlowDown" in e.reason for e in log.of(RetryScheduled))


async def test_cut_body_resumes_with_range(sandbox: Any, keys: S3Keys, tmp_path: Path) -> None:
    product = sandbox.archive.products[1]
    expected = files_of(sandbox, product)
    rel = max((r for r in expected if not r.endswith(".xml")), key=lambda r: len(expected[r]))
    path = f"/eodata/{key_of(product, rel)}"
    with CountingProxy(sandbox.endpoints.s3_endpoint, cut={path}) as proxy:
        summary = await download_products_s3(
            [product],
            tmp_path,
            keys=keys,
            endpoints=via(sandbox, proxy.url),
            limits=Limits(connections=2, workers=1, chunk_size=1024, timeout=10.0),
            retry=FAST,
        )
    assert summary.downloaded == 1, summary.results[0].reason
    assert (tmp_path / product["Name"] / rel).read_bytes() == expected[rel]
    first, second = proxy.ranges[path]
    assert first is None and second is not None
    offset = int(second.removeprefix("bytes=").split("-")[0])
    assert 0 < offset <= len(expected[rel]) // 2


async def test_results_keep_input_order_around_a_failed_lookup(
    sandbox: Any, keys: S3Keys, tmp_path: Path
) -> None:
    first, second = sandbox.archive.products[:2]
    items = [first["Name"], "S1A_NO_SUCH_PRODUCT.SAFE", {"ContentLength": 3}, dict(second)]
    summary = await download_products_s3(
        items, tmp_path, keys=keys, endpoints=sandbox.endpoints, limits=LIMITS, retry=FAST
    )
    assert [r.status for r in summary.results] == ["downloaded", "failed", "failed", "downloaded"]
    assert summary.results[0].name == first["Name"] and summary.results[3].name == second["Name"]
    assert "no product named 'S1A_NO_SUCH_PRODUCT.SAFE'" in (summary.results[1].reason or "")
    assert summary.results[2].reason == NO_ID_OR_NAME
