"""Product downloads: the catalogue's 301, the download host's zip stream, auth and quota.

``GET {catalogue}/Products(<id>)/$value`` answers 301 to the same path on the download
origin (query string kept, so ``?token=`` survives). The download host checks, in order:
the path (quoted ids → 400 DAT-ZIP-104), the token (Bearer header or ``?token=``), the
product (404), the user's connection quota (429 DAT-ZIP-100), then injected faults, and
streams the zip from disk in chunks with Range support.

Token refusals (401): missing → DAT-ZIP-604 ``Token not found``; expired → DAT-ZIP-109
``Token is expired``; revoked, unknown or garbled → DAT-ZIP-109 ``Token is expired or
revoked`` (CDSE's exact code for those is unrecorded; clients that look for "expired" in the
message refresh, which is the right reaction). Unknown products get 404
``{"detail": "Product not found"}``. HEAD is not allowed on the download host (as reported
for the real zipper); the catalogue's redirect answers HEAD.

``range_mode``: ``honor`` → 206 with Content-Range (416 when unsatisfiable); ``ignore`` →
200 with the whole body; ``reject`` → 416 for any range other than the whole file (the
real service was reported to fail on ``Range`` not starting at 0).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .counters import Counters
from .faults import (
    BODY_FAULTS,
    FaultInjector,
    InjectedFault,
    corrupt,
    mark_injected,
    plain_fault_response,
    retry_after_header,
)
from .settings import SandboxConfig
from .tokens import TokenService

PRODUCT_VALUE_PATH = "/odata/v1/Products({product_id})/$value"
CHUNK = 1 << 20
PACE_BURST = 0.05  # seconds of credit a paced connection may send at once

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def dat_zip_error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in the download service's shape: ``{"trace-id", "code", "message"}``."""
    body = {"trace-id": secrets.token_hex(16), "code": code, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def quota_exceeded(headers: dict[str, str] | None = None) -> JSONResponse:
    """429 DAT-ZIP-100, what CDSE sends past the concurrent-connection quota."""
    return dat_zip_error(429, "DAT-ZIP-100", "Max session number exceeded", headers)


def bearer_token(request: Request) -> str | None:
    """The access token of a request: ``Authorization: Bearer`` first, else ``?token=``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


def redirect_to(origin: str, request: Request, status: int) -> Response:
    """A redirect to the same path and query on ``origin`` (``scheme://host:port``)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    location = origin + raw_path.decode("latin-1")
    if request.url.query:
        location += "?" + request.url.query
    return Response(status_code=status, headers={"Location": location})


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """First and last byte asked for by a single ``bytes=`` range, or None to send it all.

    Multiple or malformed ranges are ignored, as RFC 9110 allows.

    Raises:
        ValueError: the range is well formed but cannot be satisfied (416).
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match or not (match[1] or match[2]):
        return None
    if match[1]:
        start = int(match[1])
        if start >= total:
            raise ValueError("range starts past the end")
        end = int(match[2]) if match[2] else total - 1
        if end < start:
            return None
        return start, min(end, total - 1)
    suffix = int(match[2])
    if suffix == 0 or total == 0:
        raise ValueError("empty suffix range")
    return max(0, total - suffix), total - 1


class Quota:
    """Concurrent downloads per user; the (N+1)th is refused.

    Runs on the server loop only, so check-and-increment needs no lock.
    """

    def __init__(self, settings: Callable[[], SandboxConfig], counters: Counters) -> None:
        self._settings = settings
        self._counters = counters

    def try_acquire(self, user: str) -> bool:
        if self._counters.active_downloads(user) >= self._settings().max_connections:
            self._counters.throttled(user)
            return False
        self._counters.download_started(user)
        return True

    def release(self, user: str) -> None:
        self._counters.download_finished(user)


class Pacer:
    """Per-connection bandwidth cap: virtual-time token bucket with a small burst credit."""

    def __init__(self, mbps: Callable[[], float | None]) -> None:
        self._mbps = mbps
        self._next: float | None = None

    def chunk_limit(self) -> int:
        """Largest chunk worth sending at once: about PACE_BURST seconds of the cap."""
        mbps = self._mbps()
        if not mbps or mbps <= 0:
            return CHUNK
        return max(1024, min(CHUNK, int(mbps * 1_000_000 * PACE_BURST)))

    async def take(self, nbytes: int) -> None:
        """Wait until ``nbytes`` more may be sent at the current cap (re-read every call)."""
        mbps = self._mbps()
        if not mbps or mbps <= 0:
            self._next = None
            return
        now = time.monotonic()
        start = now - PACE_BURST if self._next is None else max(self._next, now - PACE_BURST)
        self._next = start + nbytes / (mbps * 1_000_000)
        if self._next > now:
            await anyio.sleep(self._next - now)


class FileBody:
    """ASGI response streaming ``length`` bytes of a file from ``start``, chunk by chunk.

    It paces the bytes, applies a body fault half-way through the span, counts bytes
    served, stops when the client goes away, and calls ``on_close`` exactly once at the
    end however it ends (that is where the quota slot is given back).
    """

    def __init__(
        self,
        *,
        path: Path,
        start: int,
        length: int,
        status: int,
        headers: dict[str, str],
        item_id: str,
        fault: str | None,
        stall_seconds: float,
        pacer: Pacer,
        counters: Counters,
        on_close: Callable[[], None],
        on_revoke: Callable[[], None],
    ) -> None:
        self.path, self.start, self.length = path, start, length
        self.status, self.headers = status, headers
        self.item_id = item_id
        self.fault = fault if fault in BODY_FAULTS else None
        self.stall_seconds = stall_seconds
        self.pacer, self.counters = pacer, counters
        self.on_close, self.on_revoke = on_close, on_revoke
        self._closed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = "gone"  # stays so when the client disconnects first
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_disconnect, receive, tg.cancel_scope)
                outcome = await self._send(send)
                tg.cancel_scope.cancel()
        finally:
            self._close()
        # Mark in this task's context (not a child's) so the log filter sees it.
        if outcome == "abort":
            mark_injected()
            raise InjectedFault(f"{self.fault} injected for {self.item_id}")
        if outcome == "short":
            mark_injected()  # returning now leaves the body short; uvicorn closes

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self.on_close()

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                scope.cancel()
                return

    async def _send(self, send: Send) -> str:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in self.headers.items()
                ],
            }
        )
        middle = self.length // 2
        sent, struck = 0, False
        async with await anyio.open_file(self.path, "rb") as handle:
            await handle.seek(self.start)
            while sent < self.length:
                if self.fault and not struck and sent == middle:
                    struck = True
                    self.counters.fault(self.fault)
                    if self.fault == "revoke":
                        self.on_revoke()
                    if self.fault in ("reset", "revoke"):
                        return "abort"
                    if self.fault == "short":
                        return "short"
                    if self.fault == "stall":
                        await anyio.sleep(self.stall_seconds)
                size = min(self.pacer.chunk_limit(), self.length - sent)
                if self.fault and sent < middle:
                    size = min(size, middle - sent)  # land exactly on the fault point
                chunk = await handle.read(size)
                if not chunk:
                    # A real fault, not an injected one: end uncleanly and let it be logged.
                    raise OSError(f"{self.path} ended {self.length - sent} bytes early")
                if self.fault == "corrupt" and sent == middle:
                    chunk = corrupt(chunk)
                await self.pacer.take(len(chunk))
                if sent + len(chunk) == self.length:
                    # The client holds the whole body once these bytes land, and may start
                    # its next download at once: free the slot first, or that one gets 429.
                    self._close()
                self.counters.served(self.item_id, len(chunk))  # before the client can see it
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
        self._close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return "complete"


class Downloads:
    """The product routes, plus the pieces the burst routes share (auth, quota, bodies).

    Args:
        archive: the synthetic archive (``product``, ``product_zip``); its methods may hash
            or write whole zips, so they run in worker threads.
        tokens: validates access tokens, revokes them for the ``revoke`` fault.
        counters: tallies.
        injector: chooses faults.
        settings: returns the current SandboxConfig.
        download_origin: ``http://127.0.0.1:<port>`` of the download host.
    """

    def __init__(
        self,
        archive: Any,
        tokens: TokenService,
        counters: Counters,
        injector: FaultInjector,
        settings: Callable[[], SandboxConfig],
        download_origin: str,
    ) -> None:
        self.archive = archive
        self.tokens = tokens
        self.counters = counters
        self.injector = injector
        self.settings = settings
        self.download_origin = download_origin
        self.quota = Quota(settings, counters)

    def catalogue_routes(self) -> list[Route]:
        """``Products(<id>)/$value`` on the catalogue origin: the 301."""
        return [Route(PRODUCT_VALUE_PATH, self._redirect, methods=["GET", "HEAD"])]

    def download_routes(self) -> list[Route]:
        """``Products(<id>)/$value`` on the download origin: the zip."""
        return [Route(PRODUCT_VALUE_PATH, self._product, methods=["GET"])]

    async def _redirect(self, request: Request) -> Response:
        return redirect_to(self.download_origin, request, 301)

    # -- shared with bursts --------------------------------------------------------------

    def authorize(self, request: Request) -> tuple[str | None, Response | None]:
        """The user behind the request's token, or the 401 to answer with."""
        token = bearer_token(request)
        result = self.tokens.validate(token)
        if result.ok:
            return result.user, None
        if result.reason == "missing":
            return None, dat_zip_error(401, "DAT-ZIP-604", "Token not found")
        if result.reason == "expired":
            return None, dat_zip_error(401, "DAT-ZIP-109", "Token is expired")
        return None, dat_zip_error(401, "DAT-ZIP-109", "Token is expired or revoked")

    def status_fault(self, kind: str, user: str) -> Response:
        """The response replacing the body for a status fault (429/500/503/error_page)
        to ``user``."""
        wait = retry_after_header(self.injector.faults.retry_after)
        self.counters.fault(kind)
        if kind == "429":
            self.counters.throttled(user)
            return quota_exceeded({"Retry-After": wait})
        if kind in ("500", "503"):
            return plain_fault_response(kind, self.injector.faults.retry_after)
        # A legacy CDSE body once seen with status 200 in place of the file.
        return JSONResponse({"detail": "Expired signature!"}, status_code=200)

    def body(
        self,
        request: Request,
        *,
        path: Path,
        item_id: str,
        user: str,
        fault: str | None,
        headers: dict[str, str],
        etag: str | None,
        range_mode: str,
    ) -> Response | FileBody:
        """The zip response for ``path`` with Range/If-Range applied; owns the quota slot."""
        total = path.stat().st_size
        wanted = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if wanted and if_range is not None and (etag is None or if_range.strip() != etag):
            wanted = None  # the client's copy is stale: send the whole file (RFC 9110)
        headers = dict(headers)
        if etag:
            headers["ETag"] = etag
        headers["Accept-Ranges"] = "bytes" if range_mode == "honor" else "none"
        span: tuple[int, int] | None = None
        if wanted and range_mode != "ignore":
            try:
                span = parse_range(wanted, total)
            except ValueError:
                return self._unsatisfiable(user, total)
            if range_mode == "reject" and span is not None:
                if span != (0, total - 1):
                    return self._unsatisfiable(user, total, "Range requests are not supported")
                span = None  # the whole file: answer as if no Range had been sent
        start, end = span if span is not None else (0, total - 1)
        length = max(0, end - start + 1)
        status = 206 if span is not None else 200
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
            if start > 0:
                self.counters.resumed(item_id, start)
        headers["Content-Length"] = str(length)
        token = bearer_token(request)
        return FileBody(
            path=path,
            start=start,
            length=length,
            status=status,
            headers=headers,
            item_id=item_id,
            fault=fault,
            stall_seconds=self.injector.faults.stall_seconds,
            pacer=Pacer(lambda: self.settings().bandwidth),
            counters=self.counters,
            on_close=lambda: self.quota.release(user),
            on_revoke=lambda: self.tokens.revoke(token or ""),
        )

    def _unsatisfiable(
        self, user: str, total: int, detail: str = "Range Not Satisfiable"
    ) -> Response:
        self.quota.release(user)
        return JSONResponse(
            {"detail": detail}, status_code=416, headers={"Content-Range": f"bytes */{total}"}
        )

    # -- the product route ----------------------------------------------------------------

    async def _product(self, request: Request) -> Response | FileBody:
        if request.method != "GET":  # Starlette adds HEAD to GET routes; the zipper refuses it
            return Response(status_code=405, headers={"Allow": "GET"})
        product_id = request.path_params["product_id"]
        if "'" in product_id or '"' in product_id:
            return dat_zip_error(400, "DAT-ZIP-104", "Malformed OData request path")
        user, refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        assert user is not None
        entity = await anyio.to_thread.run_sync(self.archive.product, product_id)
        if entity is None:
            return JSONResponse({"detail": "Product not found"}, status_code=404)
        if not self.quota.try_acquire(user):
            return quota_exceeded()
        try:
            path = await anyio.to_thread.run_sync(self.archive.product_zip, product_id)
            fault = self.injector.draw(product_id)
            if fault is not None and fault not in BODY_FAULTS:
                self.quota.release(user)
                return self.status_fault(fault, user)
            config = self.settings()
            return self.body(
                request,
                path=Path(path),
                item_id=product_id,
                user=user,
                fault=fault,
                headers={
                    "Content-Type": "application/zip",
                    "Content-Disposition": f'attachment; filename="{entity["Name"]}.zip"',
                },
                etag=entity_etag(entity),
                range_mode=config.range_mode,
            )
        except BaseException:
            self.quota.release(user)
            raise


def entity_etag(entity: dict[str, Any]) -> str | None:
    """Strong ETag from the catalogue's MD5 (None when the entity has no checksum)."""
    for checksum in entity.get("Checksum") or ():
        if str(checksum.get("Algorithm", "")).upper() == "MD5" and checksum.get("Value"):
            return f'"{checksum["Value"]}"'
    return None
