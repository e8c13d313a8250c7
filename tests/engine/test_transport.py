"""The session's transport reads the socket in wide gulps (real HTTP on loopback)."""

from __future__ import annotations

import os
import ssl
from typing import Any

import anyio
import httpcore
import httpx
import trustme
from anyio.streams.tls import TLSListener

from phidown_async.transport import READ_BYTES, WideReads, pooled_transport

BODY = os.urandom(8 << 20)


class CountingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, noting what each read asked for and got."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.reads: list[tuple[int, int]] = []

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> Any:
        stream = await self.inner.connect_tcp(host, port, **kwargs)
        backend = self

        class Counted(httpcore.AsyncNetworkStream):
            async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
                data = await stream.read(max_bytes, timeout)
                backend.reads.append((max_bytes, len(data)))
                return data

            async def write(self, buffer: bytes, timeout: float | None = None) -> None:
                await stream.write(buffer, timeout)

            async def aclose(self) -> None:
                await stream.aclose()

        return Counted()

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def serve_body(listener: anyio.abc.Listener) -> None:
    async def handle(client: anyio.abc.ByteStream) -> None:
        async with client:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await client.receive()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
            await client.send(head + BODY)

    await listener.serve(handle)


async def test_a_download_reads_far_more_than_64_kib_at_a_time():
    counting = CountingBackend()
    transport = pooled_transport(
        tls=httpx.create_ssl_context(), limits=httpx.Limits(), backend=counting
    )
    with anyio.fail_after(30):
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve_body, listener)
                async with httpx.AsyncClient(transport=transport) as client:
                    response = await client.get(f"http://127.0.0.1:{port}/product.zip")
                tg.cancel_scope.cancel()

    assert response.content == BODY
    assert counting.reads and all(asked >= READ_BYTES for asked, _ in counting.reads)
    # httpcore alone would never get more than 64 KiB from one read.
    assert max(got for _, got in counting.reads) > 64 * 1024


async def test_a_tls_upgrade_is_handed_on_as_it_is():
    class Upgraded(httpcore.AsyncNetworkStream):
        pass

    class Plain(httpcore.AsyncNetworkStream):
        async def start_tls(self, ssl_context: Any, server_hostname: Any = None, timeout=None):
            return upgraded

    class Backend(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> Any:
            return Plain()

    upgraded = Upgraded()
    stream = await WideReads(Backend()).connect_tcp("example.invalid", 443)
    assert type(stream) is not Plain  # plain TCP reads wide
    assert await stream.start_tls(None) is upgraded  # type: ignore[arg-type]


async def test_a_download_over_https_arrives_whole():
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    transport = pooled_transport(tls=client_tls, limits=httpx.Limits())
    with anyio.fail_after(30):
        tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = tcp.extra(anyio.abc.SocketAttribute.local_port)
        listener = TLSListener(tcp, server_tls, standard_compatible=False)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(serve_body, listener)
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get(f"https://127.0.0.1:{port}/product.zip")
            tg.cancel_scope.cancel()

    assert response.status_code == 200
    assert response.content == BODY
