"""The HTTP transport under every session: httpx above, blocking sockets in worker threads below.

httpx stays the client (requests, redirects, the token's `AuthTransport`, error mapping, and
`httpx.MockTransport` in tests). Below it, each request and each piece of a body runs in a
worker thread on a standard-library connection (`http.client`), so TLS decryption, the
socket reads and the copies run outside the GIL, on every core, the way curl's and
requests' threads do: one event-loop thread decrypting every byte, as an asyncio transport
does, holds a two-core machine to about one core's worth.

A body is read in pieces of up to ``read_size`` bytes, one thread hop each. A piece returns
early once a little time passes with bytes in hand, so a slow body still shows its progress
(the lowest-speed rule counts pieces); bytes that arrived before a failure are passed on
first, then the failure is raised. Cancelling a read (the lowest-speed rule, Ctrl-C) shuts
the connection's socket, which frees the thread parked on it.

Failures are httpx's exceptions (connect, read, write, timeouts, a body cut short), mapped
here in one place, so the rest of the engine knows one vocabulary.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import select
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import httpx

T = TypeVar("T")

#: A body piece returns once this many seconds passed with bytes in hand.
PATIENCE = 0.1
#: The key of a response's `BodyPump` in ``httpx.Response.extensions``.
PUMP = "phidown_async.pump"
# Seconds a cancelled pump waits for its thread to leave the sink (a write to a hung disk).
_LINGER = 60.0

_Origin = tuple[str, str, int]
# Methods sent again on a fresh connection when a kept one turns out closed by the server.
_IDEMPOTENT = frozenset({"GET", "HEAD"})
# A kept connection the server closed while it sat idle fails its next request like this.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _alive(sock: socket.socket | None) -> bool:
    """True when an idle kept connection can carry another request: nothing is waiting to be
    read on it (an idle socket that reads is closed by the server, or sent junk)."""
    if sock is None:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


def _shut(sock: socket.socket | None) -> None:
    """Shut a socket down (safe while another thread reads it: the read returns at once)."""
    if sock is not None:
        # The plain socket's shutdown: SSLSocket's would drop its TLS object under the
        # reading thread.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class LazyTls:
    """One TLS context for several transports, made when the first HTTPS connection needs
    it: loading the CA bundle costs tens of milliseconds a plain-HTTP run need not pay."""

    def __init__(self, make: Callable[[], ssl.SSLContext]) -> None:
        self._make = make
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def __call__(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = self._make()
            return self._context


class _Pool:
    """Idle keep-alive connections by origin, at most ``keep`` per origin."""

    def __init__(self, tls: Callable[[], ssl.SSLContext], keep: int) -> None:
        self._tls = tls
        self._keep = keep
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def take(
        self, origin: _Origin, *, fresh: bool = False
    ) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``origin`` and whether it was kept from an earlier request; a new
        one with ``fresh``."""
        while not fresh:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None:
                break
            if _alive(conn.sock):
                return conn, True
            conn.close()
        scheme, host, port = origin
        if scheme == "https":
            try:
                context = self._tls()
            except (OSError, ValueError) as exc:  # SSL_CERT_FILE unreadable or not PEM
                raise httpx.ConnectError(f"cannot set up TLS: {exc}") from exc
            return http.client.HTTPSConnection(host, port, context=context), False
        return http.client.HTTPConnection(host, port), False

    def give(self, origin: _Origin, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` (its last response read to the end) for the next request."""
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._keep:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [conn for idle in self._idle.values() for conn in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


class _Exchange:
    """One request on one connection, and its response's body, read piece by piece.

    Its blocking methods run in worker threads, one at a time; `abort` may be called from
    any thread.
    """

    def __init__(
        self, pool: _Pool, request: httpx.Request, *, connect: float | None, read: float | None
    ) -> None:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        self.origin: _Origin = (url.scheme, url.host, port)
        self.request = request
        self._pool = pool
        self._connect_timeout = connect
        self._read_timeout = read
        self._lock = threading.Lock()
        self._aborted = False
        self._busy = False
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._response: http.client.HTTPResponse | None = None
        self._left: int | None = None  # body bytes still to come (None: up to the close)
        self._got = 0  # bytes of the piece being read
        self._failure: Exception | None = None
        self._buffer = memoryview(bytearray(0))
        self._drained = False  # http.client's buffer was emptied into the body's first piece

    # --- run in worker threads -----------------------------------------------------------

    def send(self, body: bytes) -> http.client.HTTPResponse:
        """Send the request and read the response's head."""
        for attempt in range(2):
            # Once a kept connection turned out closed by the server, the others kept with
            # it may be too: the second attempt opens a new one, so its failure is real.
            conn, kept = self._pool.take(self.origin, fresh=attempt > 0)
            with self._lock:
                self._conn = conn  # from now on, `abort` closes it
            try:
                return self._guarded(self._send_on, conn, body)
            except httpx.TransportError as exc:
                stale = isinstance(exc.__cause__, _STALE)
                if not (kept and stale and self.request.method in _IDEMPOTENT):
                    raise
                conn.close()  # the server closed it while it sat idle: once more, afresh
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send_on(self, conn: http.client.HTTPConnection, body: bytes) -> http.client.HTTPResponse:
        if conn.sock is None:
            conn.timeout = self._connect_timeout
            try:
                conn.connect()
            except TimeoutError as exc:
                raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
            except OSError as exc:  # refused, unreachable, the TLS handshake (ssl.SSLError)
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        self._sock = conn.sock
        conn.sock.settimeout(self._read_timeout)
        target = self.request.url.raw_path.decode("ascii")
        try:
            conn.putrequest(self.request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in self.request.headers.raw:
                conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
            conn.endheaders(body or None)
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
        try:
            response = conn.getresponse()
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except http.client.HTTPException as exc:  # no answer, a broken status line
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        self._response = response
        self._left = response.length
        if response.fp is None or self.request.method == "HEAD":
            self._left = 0
        return response

    def read(self, size: int) -> bytes:
        """The body's next piece: up to ``size`` bytes, fewer once `PATIENCE` passed with
        bytes in hand; empty at the end. Bytes that came before a failure come first; the
        failure is raised by the next call."""
        if self._failure is not None:
            raise self._failure
        if self._left == 0 or self._response is None:
            return b""
        want = size if self._left is None else min(size, self._left)
        got = self._next_piece(want)
        return bytes(self._buffer[:got])

    def pump(self, sink: Callable[[memoryview], object], budget: int, size: int) -> int:
        """Read up to ``budget`` bytes of the body in pieces of up to ``size``, handing each
        to ``sink`` in this thread, uncopied; returns the count (0: the body ended).

        Returns early once `PATIENCE` passed with bytes handed on. Bytes that came before a
        failure are handed on first; the failure is raised by the next call. What ``sink``
        raises comes out as it is.
        """
        if self._failure is not None:
            raise self._failure
        total = 0
        until = time.monotonic() + PATIENCE
        while total < budget and self._left != 0 and self._failure is None:
            want = min(size, budget - total, *(() if self._left is None else (self._left,)))
            try:
                got = self._next_piece(want)
            except httpx.TransportError:
                if not total:
                    raise
                break  # the next call raises it
            if not got:
                break
            sink(self._buffer[:got])
            total += got
            if time.monotonic() > until:
                break
        return total

    def _next_piece(self, want: int) -> int:
        """Read the next piece, up to ``want`` bytes, into the buffer; returns its size.

        A failure after some of its bytes is kept for the next call (see `read`); one
        before any is raised now.
        """
        if len(self._buffer) < want:
            self._buffer = memoryview(bytearray(want))
        self._got = 0  # a piece refused before it began (abandoned) has no bytes
        try:
            return self._guarded(self._fill, want)
        except httpx.TransportError as exc:
            self._failure = exc
            if not self._got:
                raise
            return self._got

    def _fill(self, want: int) -> int:
        """Read the next piece into the buffer: until ``want`` bytes, the body's end, or
        `PATIENCE` after its first bytes (a stalled server must not hold bytes that
        arrived: the next try resumes after them). ``self._got`` counts the piece's bytes,
        also when this raises."""
        response = self._response
        assert response is not None
        self._got = 0
        ended = self._fill_chunked(want) if response.chunked else self._fill_plain(want)
        if self._left is not None:
            self._left -= self._got
            if ended and self._left:
                raise httpx.RemoteProtocolError(
                    f"the connection closed with {self._left} bytes of the body still to come"
                )
        elif ended:
            self._left = 0  # read up to the close: this is its end
        return self._got

    def _fill_plain(self, want: int) -> bool:
        """`_fill` for a body without framing, read from the socket itself into the buffer
        (each read: one TLS record, or what the socket holds), once the body's first read
        took what `http.client` buffered beyond the head. Returns True at the end of the
        stream."""
        response, sock, view = self._response, self._sock, self._buffer
        assert response is not None and sock is not None
        got = 0
        try:
            if not self._drained:
                # One read of the reader's whole buffer size empties it; a smaller read may
                # leave bytes there, so the next piece starts there again.
                size = min(want, io.DEFAULT_BUFFER_SIZE)
                got = response.fp.readinto1(view[:size])  # type: ignore[union-attr]
                self._drained = size == io.DEFAULT_BUFFER_SIZE
                if got and not self._drained:
                    return False
            else:
                sock.settimeout(self._read_timeout)
                got = sock.recv_into(view[:want])
            if not got:
                return True
            deadline = time.monotonic() + PATIENCE
            sock.settimeout(PATIENCE)  # from now on, a read waits at most this long
            while got < want:
                n = sock.recv_into(view[got:want])
                if not n:
                    return True
                got += n
                if time.monotonic() > deadline:
                    break
            return False
        except TimeoutError:
            if got:
                return False
            raise
        finally:
            self._got = got

    def _fill_chunked(self, want: int) -> bool:
        """`_fill` for a chunked body (`http.client` undoes the framing); with bytes in
        hand, it waits for more only while the socket shows some within the patience."""
        response, view = self._response, self._buffer
        assert response is not None
        got = 0
        deadline = 0.0
        try:
            while got < want:
                if got and not self._readable(deadline - time.monotonic()):
                    return False
                piece = response.read1(want - got)
                if not piece:
                    return True
                view[got : got + len(piece)] = piece
                if not got:
                    deadline = time.monotonic() + PATIENCE
                got += len(piece)
            return False
        finally:
            self._got = got

    def _readable(self, seconds: float) -> bool:
        """True when the socket has bytes to read within ``seconds``."""
        sock = self._sock
        if sock is None or seconds <= 0:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(seconds * 1000))

    def _guarded(self, step: Callable[..., T], *args: Any) -> T:
        """Run ``step`` as the connection's one user; failures become httpx's."""
        with self._lock:
            if self._aborted:
                raise httpx.ReadError("the request was abandoned", request=self.request)
            self._busy = True
        try:
            return step(*args)
        except httpx.TransportError as exc:
            exc.request = self.request
            raise
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=self.request) from exc
        except http.client.HTTPException as exc:  # chunked framing broken, cut short
            raise httpx.RemoteProtocolError(str(exc), request=self.request) from exc
        except (OSError, ValueError) as exc:  # reset, TLS failure; ValueError: closed under us
            text = str(exc) or type(exc).__name__
            raise httpx.ReadError(text, request=self.request) from exc
        finally:
            with self._lock:
                self._busy = False
                if self._aborted:
                    self._close()

    # --- any thread ----------------------------------------------------------------------

    def finish(self) -> None:
        """Done with the response: keep the connection when its body was read to the end."""
        with self._lock:
            whole = self._left == 0 and self._failure is None and not self._aborted
            response, conn = self._response, self._conn
            keep = whole and response is not None and not response.will_close and conn
            if keep:
                response.close()  # type: ignore[union-attr]
                self._conn = None
        if keep:
            self._pool.give(self.origin, conn)  # type: ignore[arg-type]
        else:
            self.abort()

    def abort(self) -> None:
        """Drop the connection; a thread reading it is woken and closes it on its way out."""
        with self._lock:
            self._aborted = True
            _shut(self._sock)
            if not self._busy:
                self._close()

    def _close(self) -> None:
        if self._response is not None:
            self._response.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Body(httpx.AsyncByteStream):
    """A response body, read by worker threads."""

    def __init__(self, exchange: _Exchange, run: Callable[..., Any], size: int) -> None:
        self._exchange = exchange
        self._run = run
        self._size = size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                piece = await self._run(self._exchange.read, self._size)
            except BaseException:
                self._exchange.abort()  # cancelled or failed: free the thread, drop the socket
                raise
            if not piece:
                return
            yield piece

    async def aclose(self) -> None:
        self._exchange.finish()


class BodyPump:
    """Moves a response's body into a sink from worker threads, bypassing httpx's stream:
    one thread hop reads many pieces and hands each to the sink there (a file write, a
    hash), where the stream would hop once to read and once more to write.

    Found in ``response.extensions[PUMP]`` of this transport's responses; the stream and
    the pump may take turns on one body.
    """

    def __init__(self, exchange: _Exchange, threads: anyio.CapacityLimiter, size: int) -> None:
        self._exchange = exchange
        self._threads = threads
        self._size = size

    async def __call__(self, sink: Callable[[memoryview], object], budget: int) -> int:
        """The next up to ``budget`` bytes, handed to ``sink`` in a worker thread; returns
        their count, 0 at the body's end (see `_Exchange.pump`).

        Cancelled, it drops the connection and returns only once ``sink`` can no longer
        be called (so a file it writes may be closed right after).
        """
        lock = threading.Lock()
        done = threading.Event()
        state = {"started": False, "cancelled": False}

        def work() -> int:
            with lock:
                if state["cancelled"]:
                    return 0
                state["started"] = True
            try:
                return self._exchange.pump(sink, budget, self._size)
            finally:
                done.set()

        try:
            return await anyio.to_thread.run_sync(
                work, abandon_on_cancel=True, limiter=self._threads
            )
        except anyio.get_cancelled_exc_class():
            with lock:
                state["cancelled"] = True
                started = state["started"]
            self._exchange.abort()  # wakes a read parked on the socket
            if started:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(done.wait, _LINGER)
            raise


class ThreadedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose requests and body reads run in worker threads.

    Args:
        tls: the TLS context (``httpx.create_ssl_context``: honours ``SSL_CERT_FILE``), or
            a `LazyTls` that makes it when the first HTTPS connection needs it.
        connections: connections kept per origin, and threads for each at once (twice this).
        timeout: seconds of connect or read inactivity before a request is abandoned
            (httpx's per-request timeouts, when set, take precedence).
        read_size: the largest body piece one thread hop reads.
    """

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | LazyTls,
        connections: int,
        timeout: float,
        read_size: int = 1 << 20,
    ) -> None:
        self._pool = _Pool(tls if isinstance(tls, LazyTls) else lambda: tls, keep=connections)
        self._timeout = timeout
        self._read_size = read_size
        self._threads = anyio.CapacityLimiter(2 * connections)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(
            function, *args, abandon_on_cancel=True, limiter=self._threads
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        asked: dict[str, Any] = request.extensions.get("timeout") or {}
        exchange = _Exchange(
            self._pool,
            request,
            connect=asked.get("connect", self._timeout),
            read=asked.get("read", self._timeout),
        )
        body = await request.aread()
        try:
            response = await self._run(exchange.send, body)
        except BaseException:
            exchange.abort()
            raise
        return httpx.Response(
            response.status,
            headers=response.getheaders(),
            stream=_Body(exchange, self._run, self._read_size),
            extensions={
                PUMP: BodyPump(exchange, self._threads, self._read_size),
                "http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        self._pool.close()
