"""A small stdlib HTTP server on 127.0.0.1 playing CDSE: token, catalogue look-up, ``$value``.

What it serves is whatever the test gives it, including what the real CDSE never sends
(zips with hostile folder names, 1,000-character names, malformed checksums).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import unquote

from phidown_async.config import Credentials, Endpoints

_VALUE = re.compile(r"/odata/v1/Products\((.+)\)/\$value")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cdse: ClassVar[HostileCdse]

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = {"access_token": "hostile-token", "expires_in": 600, "refresh_token": "r"}
        self._answer(200, json.dumps(token).encode(), "application/json")

    def do_GET(self) -> None:
        match = _VALUE.fullmatch(self.path)
        data = self.cdse.bodies.get(unquote(match[1])) if match else None
        if data is None:
            self._answer(404, b'{"detail": "not found"}', "application/json")
            return
        self.cdse.fetched[unquote(match[1])] += 1
        self._answer(200, data, "application/zip")

    def log_message(self, *args: object) -> None:
        pass


class HostileCdse:
    """The server, started on entry and stopped on exit.

    Args:
        bodies: the bytes ``Products(<Id>)/$value`` answers, by Id (404 for any other Id).

    Attributes:
        endpoints, credentials: what a run needs to talk to it.
        fetched: ``$value`` requests answered, by Id.
    """

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = dict(bodies)
        self.fetched: Counter[str] = Counter()
        handler = type("Handler", (_Handler,), {"cdse": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        base = f"http://127.0.0.1:{self._server.server_port}"
        self.endpoints = Endpoints(
            catalogue_url=f"{base}/odata/v1",
            download_url=f"{base}/odata/v1",
            token_url=f"{base}/token",
            s3_endpoint=f"{base}/s3",
        )
        self.credentials = Credentials("user@example.com", "secret")

    def __enter__(self) -> HostileCdse:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
