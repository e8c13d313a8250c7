"""The HTTP transport of a session: httpx's, reading the socket in wide gulps.

httpcore asks its network stream for at most 64 KiB per read. Every read then passes
through httpcore, h11 and anyio (a timeout scope, a parser step, an event object): on a
fast link those Python layers, not the bytes, are what a download spends its CPU on.
`WideReads` lets each read take whatever the socket has buffered, up to `READ_BYTES`, so
a gigabyte costs a few thousand trips through those layers instead of sixteen thousand;
h11 accepts any amount of data per read. Plain TCP only: over TLS a read yields at most one
16 KiB record whatever it asks for, so a TLS stream is handed on as it is.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# What one read may return; asyncio delivers at most 256 KiB per socket read anyway.
READ_BYTES = 1 << 20


class _WideStream(httpcore.AsyncNetworkStream):
    """A network stream whose reads ask for at least `READ_BYTES`."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max(max_bytes, READ_BYTES), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # Asking a TLS stream for a megabyte would only allocate one per 16 KiB record.
        return await self._stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class WideReads(httpcore.AsyncNetworkBackend):
    """A network backend (httpcore's anyio one by default) whose streams read wide.

    Args:
        inner: the backend that opens the connections.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _WideStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _WideStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pooled_transport(
    *,
    tls: ssl.SSLContext,
    limits: httpx.Limits,
    backend: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncHTTPTransport:
    """httpx's transport with its connection pool reading through `WideReads`.

    Args:
        tls: the TLS context (``httpx.create_ssl_context``).
        limits: the pool's size.
        backend: opens the connections (default: httpcore's anyio backend).
    """
    transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits)
    # httpx has no parameter for the network backend; the pool it would build is built
    # again with the same settings and ours (tests check the reads really are wide).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=WideReads(backend),
    )
    return transport
