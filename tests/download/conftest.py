"""Fixtures of the download tests: tiny SAFE zips, a scripted download host, the sandbox."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import httpx
import pytest
from blake3 import blake3

from phidown_async.config import Endpoints
from phidown_async.retry import RetryPolicy

MOCK_ENDPOINTS = Endpoints(
    catalogue_url="https://catalogue.test/odata/v1",
    download_url="https://download.test/odata/v1",
    token_url="https://identity.test/token",
    s3_endpoint="https://eodata.test",
)
FAST_RETRY = RetryPolicy(
    attempts=6, initial_delay=0.01, max_delay=0.05, jitter=0.0, max_retry_after=0.05
)


def safe_zip(name: str, payload: bytes) -> bytes:
    """A minimal SAFE product zip: ``<name>/manifest.safe`` listing one data file by MD5."""
    href = "measurement/data.tiff"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1">'
        '<dataObjectSection><dataObject ID="d1"><byteStream mimeType="image/tiff" '
        f'size="{len(payload)}"><fileLocation locatorType="URL" href="./{href}"/>'
        f'<checksum checksumName="MD5">{hashlib.md5(payload).hexdigest()}</checksum>'
        "</byteStream></dataObject></dataObjectSection></xfdu:XFDU>\n"
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{name}/manifest.safe", manifest)
        archive.writestr(f"{name}/{href}", payload)
    return buffer.getvalue()


def entity(product_id: str, name: str, data: bytes, *, checksums: bool = True) -> dict:
    """A catalogue entity describing ``data`` exactly."""
    return {
        "Id": product_id,
        "Name": name,
        "ContentLength": len(data),
        "Checksum": [
            {"Value": hashlib.md5(data).hexdigest(), "Algorithm": "MD5"},
            {"Value": blake3(data).hexdigest(), "Algorithm": "BLAKE3"},
        ]
        if checksums
        else [],
    }


class CutStream(httpx.AsyncByteStream):
    """A body that sends ``data[:cut]`` and then breaks like a reset connection."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data, self.cut = data, cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data[: self.cut]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


@dataclass
class Host:
    """A scripted download host for `httpx.MockTransport`.

    ``script`` is consumed one action per product request: ``ok``, ``cut`` (half the body,
    then a broken connection), ``error_page`` (200 with JSON), ``corrupt`` (right length,
    wrong bytes), ``429``; when it runs out, requests get ``ok``. ``ranges`` is ``honor``,
    ``ignore`` or ``reject``.
    """

    data: bytes
    etag: str = '"v1"'
    ranges: str = "honor"
    script: list[str] = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        action = self.script.pop(0) if self.script else "ok"
        if action == "429":
            return httpx.Response(429, json={"code": "DAT-ZIP-100"}, headers={"Retry-After": "0"})
        if action == "error_page":
            return httpx.Response(200, json={"detail": "Expired signature!"})
        total = len(self.data)
        start = 0
        wanted = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if wanted and (if_range is None or if_range == self.etag) and self.ranges != "ignore":
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            if self.ranges == "reject" or start >= total:
                return httpx.Response(416, json={"detail": "Range Not Satisfiable"})
        body = self.data[start:]
        if action == "corrupt":
            middle = len(body) // 2
            body = (
                body[:middle]
                + bytes(b ^ 0xFF for b in body[middle : middle + 8])
                + body[middle + 8 :]
            )
        headers = {
            "Content-Length": str(len(body)),
            "ETag": self.etag,
            "Content-Type": "application/zip",
        }
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{total - 1}/{total}"
        if action == "cut":
            return httpx.Response(status, headers=headers, stream=CutStream(body, len(body) // 2))
        return httpx.Response(status, headers=headers, content=body)

    def ranges_sent(self) -> list[str | None]:
        return [r.headers.get("Range") for r in self.seen]


@pytest.fixture
def dl() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable by name)."""
    return SimpleNamespace(
        endpoints=MOCK_ENDPOINTS,
        fast_retry=FAST_RETRY,
        safe_zip=safe_zip,
        entity=entity,
        Host=Host,
    )
