"""The HTTP transport under every session: httpx above, aiohttp's connection pool below.

httpx stays the client (requests, redirects, the token's `AuthTransport`, error mapping, and
`httpx.MockTransport` in tests). Below it, httpx's own transport hands a TLS stream to
httpcore one 16 KiB record per read, and each record then crosses anyio, httpcore and h11
in Python: over HTTPS that path cost about 11 CPU seconds per GB on the engine's
two-core reference machine. aiohttp reads the socket through asyncio's SSL protocol in
large pieces and parses HTTP/1.1 in C; `AiohttpTransport` passes its body to httpx as
those pieces arrive, so a gigabyte crosses the Python layers a few thousand times, not
sixty thousand (about 2.5 CPU s/GB over TLS, measured side by side in the issue's notes).

Its failures are httpx's exceptions (connect, read, timeouts, a body cut short), mapped
here in one place, so the rest of the engine knows one vocabulary.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx

# Request headers aiohttp sets itself from the request it sends.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _mapped(exc: BaseException, request: httpx.Request) -> Exception | None:
    """The httpx exception for an aiohttp (or asyncio) failure, None when it is not one."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text, request=request)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        return httpx.ReadError(text, request=request)
    return None


class _Body(httpx.AsyncByteStream):
    """A response body as aiohttp receives it, failures mapped to httpx's."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as exc:
            mapped = _mapped(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        # Released, not closed: a body read to its end returns the connection to the pool.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends through one `aiohttp.ClientSession`.

    Args:
        tls: the TLS context (``httpx.create_ssl_context``: honours ``SSL_CERT_FILE``).
        connections: the pool's size (connections kept and opened at once).
        timeout: seconds of connect or read inactivity before a request is abandoned
            (httpx's per-request timeouts, when set, take precedence).
        read_buffer: how much a response may buffer before reading pauses.
    """

    def __init__(
        self,
        *,
        tls: ssl.SSLContext,
        connections: int,
        timeout: float,
        read_buffer: int = 1 << 20,
    ) -> None:
        self._tls = tls
        self._connections = connections
        self._timeout = timeout
        self._read_buffer = read_buffer
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the event loop it was made in.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._tls, limit=self._connections, limit_per_host=0
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes, by the response's headers
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                read_bufsize=self._read_buffer,
            )
        return self._session

    def _timeout_for(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        asked: dict[str, Any] = request.extensions.get("timeout") or {}
        connect = asked.get("connect", self._timeout)
        read = asked.get("read", self._timeout)
        return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.decode("latin-1").lower() not in _OWN_HEADERS
        ]
        body = await request.aread()
        try:
            response = await self._client().request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,  # httpx follows them (and AuthTransport sees each hop)
                timeout=self._timeout_for(request),
            )
        except Exception as exc:
            mapped = _mapped(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
