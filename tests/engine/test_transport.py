"""The session's transport (worker threads under httpx), on real sockets on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import httpx
import pytest
import trustme
from anyio.streams.tls import TLSListener

from phidown_async.transport import PUMP, LazyTls, ThreadedTransport

BODY = os.urandom(8 << 20)
TLS_RECORD = 16 * 1024

Handler = Callable[[anyio.abc.ByteStream], Awaitable[None]]


async def read_head(client: anyio.abc.ByteStream) -> bytes:
    request = b""
    while b"\r\n\r\n" not in request:
        request += await client.receive()
    return request


async def send_body(client: anyio.abc.ByteStream) -> None:
    await read_head(client)
    await client.send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode() + BODY)


async def send_body_to_a_leaving_client(client: anyio.abc.ByteStream) -> None:
    """`send_body`, for a client that drops the connection before the end."""
    with contextlib.suppress(anyio.BrokenResourceError, ConnectionError):
        await send_body(client)


async def serve(listener: anyio.abc.Listener, handler: Handler) -> None:
    async def handle(client: anyio.abc.ByteStream) -> None:
        async with client:
            await handler(client)

    await listener.serve(handle)


@contextlib.asynccontextmanager
async def loopback(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A server on loopback running ``handler`` for each connection while the block runs;
    yields its base URL (HTTPS with ``tls``, the server's context)."""
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = tcp if tls is None else TLSListener(tcp, tls, standard_compatible=False)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(serve, listener, handler)
        yield f"{'http' if tls is None else 'https'}://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


def transport(
    tls: ssl.SSLContext | LazyTls | None = None, timeout: float = 30.0
) -> ThreadedTransport:
    return ThreadedTransport(tls=tls or httpx.create_ssl_context(), connections=4, timeout=timeout)


async def get_plain(
    handler: Handler, *, timeout: float = 30.0, via: ThreadedTransport | None = None
) -> httpx.Response:
    """GET from a loopback server running ``handler``; what the client raised, as itself."""
    outcome: list[httpx.Response | Exception] = []
    async with (
        loopback(handler) as base,
        httpx.AsyncClient(transport=via or transport(timeout=timeout)) as client,
    ):
        try:
            outcome.append(await client.get(f"{base}/product.zip"))
        except Exception as exc:
            outcome.append(exc)
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


async def test_a_tls_read_returns_more_than_one_record():
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    sizes: list[int] = []
    with anyio.fail_after(30):
        async with (
            loopback(send_body, server_tls) as base,
            httpx.AsyncClient(transport=transport(client_tls)) as client,
            client.stream("GET", f"{base}/product.zip") as response,
        ):
            received = bytearray()
            async for chunk in response.aiter_raw():
                sizes.append(len(chunk))
                received += chunk

    assert response.status_code == 200 and bytes(received) == BODY
    # httpx's own transport yields one 16 KiB TLS record per read: 512 reads for 8 MiB.
    assert max(sizes) > TLS_RECORD
    assert len(sizes) < len(BODY) // TLS_RECORD // 2


async def test_a_plain_download_arrives_whole():
    with anyio.fail_after(30):
        response = await get_plain(send_body)
    assert response.status_code == 200 and response.content == BODY


async def test_a_body_cut_short_is_httpx_remote_protocol_error():
    async def cut(client: anyio.abc.ByteStream) -> None:
        await read_head(client)
        await client.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + BODY[:5000])

    with anyio.fail_after(30), pytest.raises(httpx.RemoteProtocolError):
        await get_plain(cut)


async def test_a_silent_server_is_httpx_read_timeout():
    async def stall(client: anyio.abc.ByteStream) -> None:
        await read_head(client)
        await client.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        await anyio.sleep(10)

    with anyio.fail_after(10), pytest.raises(httpx.ReadTimeout):
        await get_plain(stall, timeout=0.3)


async def test_a_refused_connection_is_httpx_connect_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with httpx.AsyncClient(transport=transport()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")


async def test_status_headers_and_redirects_are_httpx_business():
    async def answer(client: anyio.abc.ByteStream) -> None:
        head = await read_head(client)
        if head.startswith(b"GET /old"):
            await client.send(b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
        else:
            await client.send(
                b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-4/10\r\n"
                b'ETag: "v1"\r\nContent-Length: 3\r\n\r\nabc'
            )

    with anyio.fail_after(30):
        async with (
            loopback(answer) as base,
            httpx.AsyncClient(transport=transport(), follow_redirects=True) as client,
        ):
            response = await client.get(f"{base}/old")

    assert [r.status_code for r in response.history] == [302]
    assert response.status_code == 206 and response.reason_phrase == "Partial Content"
    assert response.headers["etag"] == '"v1"' and response.content == b"abc"


async def test_a_connection_is_kept_for_the_next_request_and_renewed_when_stale():
    connections: list[int] = []

    async def answer_twice_then_close(client: anyio.abc.ByteStream) -> None:
        connections.append(1)
        for _ in range(2):  # two requests per connection, then the server closes it
            await read_head(client)
            await client.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with anyio.fail_after(30):
        async with (
            loopback(answer_twice_then_close) as base,
            httpx.AsyncClient(transport=transport()) as client,
        ):
            url = f"{base}/x"
            answers = [(await client.get(url)).content for _ in range(2)]
            await anyio.sleep(0.2)  # the server closes the kept connection meanwhile
            answers.append((await client.get(url)).content)

    assert answers == [b"ok"] * 3
    # Two requests shared the first connection; the third found it closed and took a new one.
    assert len(connections) == 2


async def test_when_every_kept_connection_was_dropped_the_request_goes_on_a_new_one():
    connections: list[int] = []
    both_kept = anyio.Event()

    async def answer_once_then_drop(client: anyio.abc.ByteStream) -> None:
        connections.append(1)
        await read_head(client)
        if len(connections) == 2:
            both_kept.set()
        await both_kept.wait()  # both answers go out together: two connections are kept
        await client.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await read_head(client)  # the next request on this connection: dropped unanswered

    with anyio.fail_after(30):
        async with (
            loopback(answer_once_then_drop) as base,
            httpx.AsyncClient(transport=transport()) as client,
        ):
            answers: list[bytes] = []

            async def get() -> None:
                answers.append((await client.get(f"{base}/x")).content)

            async with anyio.create_task_group() as pair:
                pair.start_soon(get)
                pair.start_soon(get)
            await get()  # a kept one is dropped; the retry must not take the other

    assert answers == [b"ok"] * 3
    assert len(connections) == 3


async def test_a_chunked_body_arrives_whole():
    async def chunked(client: anyio.abc.ByteStream) -> None:
        await read_head(client)
        pieces = [BODY[i : i + 100_000] for i in range(0, 1_000_000, 100_000)]
        framed = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)
        await client.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"
        )

    with anyio.fail_after(30):
        response = await get_plain(chunked)
    assert response.content == BODY[:1_000_000]


async def pump_from(handler: Handler, budget: int) -> tuple[bytearray, list[int], Exception | None]:
    """Pump a loopback body into a sink: (bytes, count per call, what the pump raised)."""
    sunk = bytearray()
    counts: list[int] = []
    failure: Exception | None = None
    async with (
        loopback(handler) as base,
        httpx.AsyncClient(transport=transport()) as client,
        client.stream("GET", f"{base}/p.zip") as response,
    ):
        pump = response.extensions[PUMP]
        try:
            while count := await pump(sunk.extend, budget):
                counts.append(count)
        except httpx.TransportError as exc:
            failure = exc
    return sunk, counts, failure


async def test_a_pump_hands_the_body_to_its_sink_in_few_calls():
    with anyio.fail_after(30):
        sunk, counts, failure = await pump_from(send_body, budget=4 << 20)
    assert failure is None and bytes(sunk) == BODY
    assert sum(counts) == len(BODY) and max(counts) <= 4 << 20
    assert len(counts) < len(BODY) // TLS_RECORD // 8  # many reads per thread hop


async def test_a_pump_hands_on_the_bytes_before_a_cut_then_raises():
    async def cut(client: anyio.abc.ByteStream) -> None:
        await read_head(client)
        await client.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + BODY[:30_000])

    with anyio.fail_after(30):
        sunk, _, failure = await pump_from(cut, budget=1 << 20)
    assert bytes(sunk) == BODY[:30_000]
    assert isinstance(failure, httpx.RemoteProtocolError)


async def test_a_cancelled_pump_returns_only_when_its_sink_is_done():
    """Cancelled while its thread is in the sink (a slow write), the pump returns only once
    the sink is done: a file the sink writes may be closed right after."""
    closed = False
    late: list[int] = []
    sunk = bytearray()

    def slow_sink(piece: memoryview) -> None:
        sunk.extend(piece)
        time.sleep(0.3)
        if closed:
            late.append(len(piece))

    with anyio.fail_after(30):
        async with loopback(send_body_to_a_leaving_client) as base:
            async with (
                httpx.AsyncClient(transport=transport()) as client,
                client.stream("GET", f"{base}/p.zip") as response,
            ):
                with anyio.move_on_after(0.1):
                    await response.extensions[PUMP](slow_sink, 1 << 20)
                closed = True
            await anyio.sleep(0.5)
    assert late == []
    # Nothing was handed on twice: the piece after the cancel is never the last one again.
    assert bytes(sunk) == BODY[: len(sunk)]


async def test_a_kept_connection_found_closed_on_sending_is_replaced(monkeypatch):
    """The server may close a kept connection between the check and the request: the
    request goes again on a new connection."""
    monkeypatch.setattr("phidown_async.transport._alive", lambda sock: True)
    connections: list[int] = []

    async def answer_once_then_close(client: anyio.abc.ByteStream) -> None:
        connections.append(1)
        await read_head(client)
        await client.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with anyio.fail_after(30):
        async with (
            loopback(answer_once_then_close) as base,
            httpx.AsyncClient(transport=transport()) as client,
        ):
            first = await client.get(f"{base}/x")
            await anyio.sleep(0.2)
            second = await client.get(f"{base}/x")
    assert first.content == second.content == b"ok"
    assert len(connections) == 2


async def test_pieces_smaller_than_the_head_buffer_lose_nothing():
    """The head and the body's start arrive in one packet, so http.client buffers body
    bytes with the head; pieces smaller than its buffer must still get them in order."""
    body = BODY[:50_000]

    async def one_packet(client: anyio.abc.ByteStream) -> None:
        await read_head(client)
        await client.send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)

    small = ThreadedTransport(
        tls=httpx.create_ssl_context(), connections=1, timeout=30, read_size=1000
    )
    with anyio.fail_after(30):
        async with loopback(one_packet) as base, httpx.AsyncClient(transport=small) as client:
            response = await client.get(f"{base}/p.zip")
    assert response.content == body


async def test_a_pump_aborted_between_pieces_hands_nothing_on_twice():
    """The connection is dropped (a cancel elsewhere) between two pieces of one pump call:
    the pump stops with what it handed on, and the next call raises; no piece comes twice."""
    sunk = bytearray()
    calls: list[int] = []

    with anyio.fail_after(30):
        async with (
            loopback(send_body_to_a_leaving_client) as base,
            httpx.AsyncClient(transport=transport()) as client,
            client.stream("GET", f"{base}/p.zip") as response,
        ):
            pump = response.extensions[PUMP]

            def sink(piece: memoryview) -> None:
                calls.append(len(piece))
                sunk.extend(piece)
                pump._exchange.abort()  # as a cancel in another task would

            first = await pump(sink, 4 << 20)
            with pytest.raises(httpx.ReadError):
                await pump(sink, 4 << 20)
    assert first == len(sunk) > 0 and len(calls) == 1
    assert bytes(sunk) == BODY[: len(sunk)]


async def test_the_tls_context_is_made_on_the_first_https_request_and_its_failure_is_one_error(
    tmp_path,
):
    missing = tmp_path / "no-such-ca.pem"
    made: list[int] = []

    def make() -> ssl.SSLContext:
        made.append(1)
        return ssl.create_default_context(cafile=str(missing))  # FileNotFoundError

    plain = transport(LazyTls(make))
    with anyio.fail_after(30):
        response = await get_plain(send_body, via=plain)
    assert response.status_code == 200 and made == []  # plain HTTP never needed it

    async with httpx.AsyncClient(transport=transport(LazyTls(make))) as client:
        with pytest.raises(httpx.ConnectError, match="cannot set up TLS"):
            await client.get("https://127.0.0.1:9/product.zip")
    assert made == [1]
