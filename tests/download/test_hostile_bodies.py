"""Hostile bodies over loopback: endless ones are cut at the known size, slow ones abandoned.

A stdlib HTTP server on 127.0.0.1 serves products (``$value``), bursts and S3 objects (a
ListObjectsV2 listing and GetObject), each request answered by the next action of its
path's script. Each try's start is timed on the server, so how long a slow try held its
worker is measured where the next try arrives. Every scenario runs over plain HTTP and over
HTTPS (a throwaway CA the clients trust), as CDSE serves.
"""

from __future__ import annotations

import hashlib
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import pytest
import trustme
from product_zips import manifest_xml

from phidown_async.config import Endpoints, Limits, S3Keys
from phidown_async.download import download_products
from phidown_async.download.bursts import download_bursts
from phidown_async.download.s3 import download_products_s3
from phidown_async.errors import ConfigError
from phidown_async.events import Event, EventLog, RetryScheduled
from phidown_async.retry import RetryPolicy
from phidown_async.session import Session

PRODUCT_ID = "0a1b2c3d-0000-4000-8000-00000000abcd"
BURST_ID = "1b2c3d4e-0000-4000-8000-00000000beef"
NAME = "S1A_IW_GRDH_1SDV_20240101T000000_20240101T000025_051000_062000_ABCD.SAFE"
RETRY = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.02, jitter=0.0)
# The rule of the slow tests: 1 KB/s over one second.
WINDOW = 1.0
SLOW = Limits(connections=2, workers=2, timeout=10.0, lowest_speed=1000, speed_time=WINDOW)
OFF = Limits(connections=2, workers=2, timeout=10.0, lowest_speed=0)
# Bytes a slow answer sends at full speed before it drips or stalls.
LEAD = 3000
# Bounds of the server's own loops (the client is expected to leave long before).
MAX_JUNK = 64 << 20
MAX_SECONDS = 20.0


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    at: float
    range: str | None


class HostileHost:
    """A loopback server for products, bursts and S3 objects; see the module docstring.

    Actions: ``ok`` (whole body, or 206 for a Range), ``endless`` (chunked, the body and
    then junk without end), ``drip`` (LEAD bytes, then 2 bytes every 0.25 s for
    ``drip_for`` seconds, then the rest), ``stall`` (LEAD bytes, then nothing), ``cut``
    (half the body, then the connection closes), ``short`` (chunked, half the body, then a
    clean end). A path whose script ran out gets ``ok``. With ``tls`` every connection is
    HTTPS (the handshake runs in the connection's own thread).
    """

    def __init__(
        self,
        files: dict[str, bytes],
        scripts: dict[str, list[str]],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.files = files
        self.scripts = {path: list(actions) for path, actions in scripts.items()}
        self.seen: list[Seen] = []
        self.sent: dict[str, int] = {}
        self.drip_for = MAX_SECONDS
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                host.answer(self)

            do_POST = do_GET

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.tls = tls
        self.server.daemon_threads = True
        # A short poll: shutdown() waits for the serve loop's next look at its flag.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.server.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HostileHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()

    def requests(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    # -- answers ---------------------------------------------------------------------------

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        query = parse_qs(parts.query)
        if "list-type" in query:
            self._listing(handler, path, query.get("prefix", [""])[0])
            return
        wanted = handler.headers.get("Range")
        with self._lock:
            self.seen.append(Seen(path, time.monotonic(), wanted))
            script = self.scripts.get(path, [])
            action = script.pop(0) if script else "ok"
        data = self.files[path]
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
        status = 206 if start else 200
        handler.send_response(status)
        handler.send_header("ETag", '"v1"')
        handler.send_header("Content-Type", "application/zip")
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        try:
            if action == "endless":
                handler.send_header("Transfer-Encoding", "chunked")
                handler.end_headers()
                self._endless(handler, path, body)
                return
            if action == "short":
                half = body[: len(body) // 2]
                handler.send_header("Transfer-Encoding", "chunked")
                handler.end_headers()
                handler.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n0\r\n\r\n")
                return
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if action == "cut":
                handler.wfile.write(body[: len(body) // 2])
                handler.close_connection = True
            elif action == "stall":
                handler.wfile.write(body[:LEAD])
                handler.wfile.flush()
                self.stopped.wait(MAX_SECONDS)
                handler.close_connection = True
            elif action == "drip":
                self._drip(handler, body)
            else:
                handler.wfile.write(body)
        except OSError:  # BrokenPipeError, ConnectionResetError, ssl.SSLError
            handler.close_connection = True  # the client left

    def _endless(self, handler: BaseHTTPRequestHandler, path: str, body: bytes) -> None:
        junk = random.Random(1).randbytes(64 * 1024)
        sent = 0
        chunk = body
        try:
            while sent < MAX_JUNK and not self.stopped.is_set():
                handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                chunk = junk
        finally:
            with self._lock:
                self.sent[path] = self.sent.get(path, 0) + sent

    def _drip(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        handler.wfile.write(body[:LEAD])
        handler.wfile.flush()
        at, until = LEAD, time.monotonic() + self.drip_for
        while time.monotonic() < until and at < len(body) and not self.stopped.is_set():
            handler.wfile.write(body[at : at + 2])
            handler.wfile.flush()
            at += 2
            self.stopped.wait(0.25)
        handler.wfile.write(body[at:])

    def _listing(self, handler: BaseHTTPRequestHandler, path: str, prefix: str) -> None:
        bucket = path.strip("/")
        entries = "".join(
            f"<Contents><Key>{escape(key)}</Key><LastModified>2024-01-01T00:00:00.000Z"
            f'</LastModified><ETag>"{hashlib.md5(data).hexdigest()}"</ETag>'
            f"<Size>{len(data)}</Size><StorageClass>STANDARD</StorageClass></Contents>"
            for key, data in (
                (p.removeprefix(f"/{bucket}/"), d)
                for p, d in sorted(self.files.items())
                if p.startswith(f"/{bucket}/{prefix}")
            )
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><MaxKeys>1000</MaxKeys>"
            f"<IsTruncated>false</IsTruncated>{entries}</ListBucketResult>"
        ).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(xml)))
        handler.end_headers()
        handler.wfile.write(xml)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that speaks TLS on each connection when ``tls`` is set."""

    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        with self.tls.wrap_socket(request, server_side=True) as wrapped:
            super().finish_request(wrapped, client_address)


Serve = Callable[[dict[str, bytes], dict[str, list[str]]], HostileHost]


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A throwaway CA and its certificate's file."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.fixture(params=["http", "https"])
def serve(request, authority, monkeypatch) -> Serve:
    """Makes a HostileHost over plain HTTP, or over HTTPS with a certificate of `authority`,
    which the client then trusts (httpx: ``SSL_CERT_FILE``; botocore: ``AWS_CA_BUNDLE``)."""
    if request.param == "http":
        return HostileHost
    ca, path = authority
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return lambda files, scripts: HostileHost(files, scripts, tls=context)


@dataclass
class PartLog(EventLog):
    """An event log that also notes the size of the part file ``part`` (None when there is
    none) at each RetryScheduled: the try has ended and closed the part by then. A part only
    grows during a try, so that size is the most it held in the try."""

    part: Path | None = None
    sizes: list[int | None] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        super().__call__(event)
        if isinstance(event, RetryScheduled) and self.part is not None:
            self.sizes.append(self.part.stat().st_size if self.part.exists() else None)


# -- products and bursts --------------------------------------------------------------------


@pytest.fixture
def data(dl) -> bytes:
    return dl.safe_zip(NAME, random.Random(7).randbytes(60_000))


def product_path() -> str:
    return f"/odata/v1/Products({PRODUCT_ID})/$value"


def endpoints(host: HostileHost) -> Endpoints:
    base = f"{host.url}/odata/v1"
    return Endpoints(catalogue_url=base, download_url=base, token_url=f"{host.url}/token")


async def fetch_product(
    dl, host: HostileHost, out: Path, data: bytes, limits: Limits, *, size: bool = True
) -> tuple[Any, PartLog]:
    entity = dl.entity(PRODUCT_ID, NAME, data)
    if not size:
        del entity["ContentLength"]
    log = PartLog(part=out / f"{NAME}.zip.part")
    async with Session(endpoints(host), None, limits=limits, retry=RETRY, sink=log) as session:
        summary = await download_products([entity], out, session=session)
    [result] = summary.results
    return result, log


def reasons(log: EventLog) -> list[str]:
    return [e.reason for e in log.of(RetryScheduled)]


def resumed_at(seen: Seen) -> int:
    assert seen.range is not None, "the retry did not resume from the part file"
    return int(seen.range.removeprefix("bytes=").split("-")[0])


async def test_an_endless_body_is_cut_at_the_catalogue_size(serve, dl, tmp_path, data):
    files = {product_path(): data}
    limits = Limits(connections=2, workers=2, chunk_size=16 * 1024, timeout=10.0)
    with serve(files, {product_path(): ["endless"]}) as host:
        result, log = await fetch_product(dl, host, tmp_path, data, limits)

    assert result.status == "downloaded", result.reason
    assert reasons(log) == [f"the server sent more than {len(data)} bytes"]
    # The part never held more than the catalogue size: exactly that when the try ended.
    assert log.sizes == [len(data)]
    # The bytes up to the size were the product's: the next try found the part whole.
    assert (tmp_path / f"{NAME}.zip").read_bytes() == data
    assert len(host.requests(product_path())) == 1
    # Reading stopped there (what the server got out is that plus socket buffers).
    assert host.sent[product_path()] < 16 << 20


async def test_an_endless_206_is_cut_at_its_content_range_total(serve, dl, tmp_path, data):
    # No catalogue size: the total of the 206's Content-Range is the known size.
    files = {product_path(): data}
    with serve(files, {product_path(): ["cut", "endless"]}) as host:
        result, log = await fetch_product(dl, host, tmp_path, data, SLOW, size=False)

    assert result.status == "downloaded", result.reason
    assert f"the server sent more than {len(data)} bytes" in reasons(log)
    assert (tmp_path / f"{NAME}.zip").read_bytes() == data
    first, second = host.requests(product_path())
    assert first.range is None and 0 < resumed_at(second) < len(data)
    # Cut, the part kept what had come; the endless 206 filled it up to the total, no more.
    assert log.sizes == [resumed_at(second), len(data)]


async def test_a_chunked_body_ending_early_is_resumed_not_discarded(serve, dl, tmp_path, data):
    with serve({product_path(): data}, {product_path(): ["short"]}) as host:
        result, log = await fetch_product(dl, host, tmp_path, data, SLOW)

    assert result.status == "downloaded", result.reason
    assert (tmp_path / f"{NAME}.zip").read_bytes() == data
    half = len(data) // 2
    assert reasons(log) == [f"the body ended after {half} of {len(data)} bytes"]
    first, second = host.requests(product_path())
    assert first.range is None and resumed_at(second) == half


@pytest.mark.parametrize("action", ["drip", "stall"])
async def test_a_slow_body_frees_its_worker_within_the_window_and_resumes(
    serve, dl, tmp_path, data, action
):
    with serve({product_path(): data}, {product_path(): [action]}) as host:
        result, log = await fetch_product(dl, host, tmp_path, data, SLOW)

    assert result.status == "downloaded", result.reason
    assert (tmp_path / f"{NAME}.zip").read_bytes() == data
    assert reasons(log) == ["the server sent slower than 1.0 KB/s for 1 s"]
    first, second = host.requests(product_path())
    # A bound with a margin, not a benchmark: the rule decides at one window (measured:
    # the next try came 1.1-1.3 windows later, in 50 tries over HTTP and HTTPS).
    assert second.at - first.at < 2 * WINDOW
    # Every byte received before the try was abandoned was kept.
    assert first.range is None and resumed_at(second) >= LEAD


async def test_with_the_rule_off_a_slow_body_is_waited_for(serve, dl, tmp_path, data):
    with serve({product_path(): data}, {product_path(): ["drip"]}) as host:
        host.drip_for = 1.5 * WINDOW  # abandoned with the rule on, waited for with it off
        result, log = await fetch_product(dl, host, tmp_path, data, OFF)

    assert result.status == "downloaded", result.reason
    assert (tmp_path / f"{NAME}.zip").read_bytes() == data
    assert reasons(log) == []
    [only] = host.requests(product_path())
    assert only.range is None


async def test_a_stalled_burst_is_abandoned_and_resumed(serve, dl, tmp_path, data):
    path = f"/odata/v1/Bursts({BURST_ID})/$value"
    with serve({path: data}, {path: ["stall"]}) as host:
        log = EventLog()
        async with Session(endpoints(host), None, limits=SLOW, retry=RETRY, sink=log) as session:
            summary = await download_bursts([BURST_ID], tmp_path, session=session, sink=log)

    [result] = summary.results
    assert result.status == "downloaded", result.reason
    assert result.path is not None and result.path.read_bytes() == data
    assert reasons(log) == ["the server sent slower than 1.0 KB/s for 1 s"]
    first, second = host.requests(path)
    assert second.at - first.at < 2 * WINDOW
    assert resumed_at(second) >= LEAD


# -- S3 objects -----------------------------------------------------------------------------

S3_PREFIX = f"Sentinel-1/SAR/GRD/2024/01/01/{NAME}"
DATA_FILE = "measurement/data.tiff"


@pytest.fixture
def s3_files() -> dict[str, bytes]:
    payload = random.Random(3).randbytes(50_000)
    manifest = manifest_xml(
        [(f"./{DATA_FILE}", str(len(payload)), hashlib.md5(payload).hexdigest())]
    )
    return {
        f"/eodata/{S3_PREFIX}/manifest.safe": manifest,
        f"/eodata/{S3_PREFIX}/{DATA_FILE}": payload,
    }


async def fetch_s3(host: HostileHost, out: Path, limits: Limits) -> tuple[Any, PartLog]:
    entity = {"Id": PRODUCT_ID, "Name": NAME, "S3Path": f"/eodata/{S3_PREFIX}"}
    base = endpoints(host)
    log = PartLog(part=out / f"{NAME}.partdir" / f"{DATA_FILE}.part")
    summary = await download_products_s3(
        [entity],
        out,
        keys=S3Keys("access", "secret"),
        endpoints=Endpoints(base.catalogue_url, base.download_url, base.token_url, host.url),
        limits=limits,
        retry=RETRY,
        sink=log,
    )
    [result] = summary.results
    return result, log


async def test_an_endless_s3_object_is_cut_at_its_listed_size(serve, tmp_path, s3_files):
    path = f"/eodata/{S3_PREFIX}/{DATA_FILE}"
    with serve(s3_files, {path: ["endless"]}) as host:
        result, log = await fetch_s3(host, tmp_path, SLOW)

    assert result.status == "downloaded", result.reason
    size = len(s3_files[path])
    assert reasons(log) == [f"{NAME}/{DATA_FILE}: the server sent more than {size} bytes"]
    # The object's part never held more than the listed size: exactly that when cut.
    assert log.sizes == [size]
    assert (tmp_path / NAME / DATA_FILE).read_bytes() == s3_files[path]
    assert host.sent[path] < 16 << 20


@pytest.mark.parametrize("action", ["drip", "stall"])
async def test_a_slow_s3_object_frees_its_worker_within_the_window_and_resumes(
    serve, tmp_path, s3_files, action
):
    path = f"/eodata/{S3_PREFIX}/{DATA_FILE}"
    with serve(s3_files, {path: [action]}) as host:
        result, log = await fetch_s3(host, tmp_path, SLOW)

    assert result.status == "downloaded", result.reason
    assert (tmp_path / NAME / DATA_FILE).read_bytes() == s3_files[path]
    assert reasons(log) == [f"{NAME}/{DATA_FILE}: the server sent slower than 1.0 KB/s for 1 s"]
    first, second = host.requests(path)
    assert second.at - first.at < 2 * WINDOW
    assert first.range is None and resumed_at(second) >= LEAD


@pytest.mark.parametrize("planted", ["the part folder", "a folder inside it"])
async def test_an_s3_part_folder_linked_outside_is_replaced_not_written_through(
    serve, tmp_path, s3_files, planted
):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    part_folder = out / f"{NAME}.partdir"
    if planted == "the part folder":
        part_folder.symlink_to(outside, target_is_directory=True)
    else:
        part_folder.mkdir()
        (part_folder / "measurement").symlink_to(outside, target_is_directory=True)
    with serve(s3_files, {}) as host:
        result, _ = await fetch_s3(host, out, SLOW)

    assert result.status == "downloaded", result.reason
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "mine"
    product = out / NAME
    assert product.is_dir() and not product.is_symlink()
    path = f"/eodata/{S3_PREFIX}/{DATA_FILE}"
    assert (product / DATA_FILE).read_bytes() == s3_files[path]


# -- settings -------------------------------------------------------------------------------


def test_the_rule_is_on_by_default_and_validated():
    assert (Limits().lowest_speed, Limits().speed_time) == (1000, 60.0)
    assert Limits(lowest_speed=0).lowest_speed == 0
    for bad in ({"lowest_speed": -1}, {"lowest_speed": 1.5}, {"lowest_speed": True}):
        with pytest.raises(ConfigError, match="lowest_speed"):
            Limits(**bad)
    for bad in ({"speed_time": -1.0}, {"speed_time": float("nan")}, {"speed_time": "60"}):
        with pytest.raises(ConfigError, match="speed_time"):
            Limits(**bad)
