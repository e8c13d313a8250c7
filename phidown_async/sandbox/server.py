"""The sandbox: a simulated CDSE served over real HTTP on loopback.

Two origins, like the real service: the catalogue origin (``http://127.0.0.1:P``) serves
``/odata/v1`` searches, the token endpoint and the ``$value`` redirects; the download origin
(``http://127.0.0.1:Q``, another port) serves product zips and bursts. Because the ports
differ, the catalogue's 301 to the download host crosses origins, and HTTP clients drop the
Authorization header on it exactly as they do against CDSE. One uvicorn server in a
background thread listens on both sockets; S3 (moto) runs in its own thread when enabled.

Users and what they did (a contract: tests, benchmarks and outside checks rely on it):
``SandboxConfig(users=N)`` (``phidown-async sandbox --users N``) accepts N accounts, each with
the quota ``max_connections``, listed by `Sandbox.users` (and in the CLI's JSON line under
``"users"``) as ``[{"username": ..., "password": ...}]``. ``GET <catalogue URL>/_sandbox/stats``
(`Sandbox.stats` in Python) answers::

    {"users": {USERNAME: {"peak_downloads": int, "password_grants": int,
                          "refresh_grants": int, "throttled": int}},
     "items": {PRODUCT_ID: bytes_served}}

``peak_downloads`` is the most downloads (products and bursts) the user had in flight at
once, ``throttled`` the 429s it was answered (over its quota, or injected), ``items`` the
body bytes sent per product or burst Id. Every user is listed, also one that did nothing;
`Counters.reset` zeroes them all. The stats request itself is never delayed nor faulted.

Example:
    >>> with Sandbox(SandboxConfig(products=20)) as sandbox:   # doctest: +SKIP
    ...     httpx.get(sandbox.endpoints.products_url, params={"$top": 1}).json()
"""

from __future__ import annotations

import dataclasses
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Endpoints
from ..extras import needs
from . import catalogue
from .archive import Archive
from .bursts import Bursts
from .counters import Counters
from .download import Downloads
from .faults import FaultInjector, plain_fault_response, quiet_injected_faults
from .s3 import S3Server
from .settings import Faults, SandboxConfig
from .tokens import TokenService

# Knobs that may change while the server runs; the rest shape the archive.
RUNTIME_KNOBS = frozenset(
    {
        "faults",
        "bandwidth",
        "latency",
        "catalogue_latency",
        "max_connections",
        "range_mode",
        "burst_delay",
        "burst_redirect",
        "access_token_lifetime",
        "refresh_token_lifetime",
        "max_sessions",
    }
)
KNOB_ALIASES = {"quota": "max_connections"}

STARTUP_TIMEOUT = 30.0
#: The per-user statistics route, on the catalogue origin (see the module docstring).
STATS_PATH = "/odata/v1/_sandbox/stats"
_VALUE = re.compile(r"/odata/v1/(Products|Bursts)\([^/]*\)/\$value")


def classify(origin: str, path: str) -> str:
    """Counter name of a request: token, search, product(_redirect), burst, s3_disabled,
    stats, other."""
    if "/protocol/openid-connect/" in path:
        return "token"
    if origin == "catalogue" and path == STATS_PATH:
        return "stats"
    value = _VALUE.fullmatch(path)
    if value and value[1] == "Products":
        return "product_redirect" if origin == "catalogue" else "product"
    if value:
        return "burst"
    if origin == "catalogue" and path.startswith("/odata/"):
        return "search"
    if path == "/eodata" or path.startswith("/eodata/"):
        return "s3_disabled"
    return "other"


class Gate:
    """Outer middleware of one origin: latency, catalogue faults, request counters.

    Args:
        app: the origin's Starlette app.
        origin: ``"catalogue"`` or ``"download"``.
        settings: returns the current SandboxConfig.
        injector: draws catalogue faults.
        counters: where every response status is tallied.
    """

    def __init__(
        self,
        app: ASGIApp,
        origin: str,
        settings: Callable[[], SandboxConfig],
        injector: FaultInjector,
        counters: Counters,
    ) -> None:
        self.app, self.origin = app, origin
        self.settings, self.injector, self.counters = settings, injector, counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = classify(self.origin, scope["path"])
        config = self.settings()
        delay = config.latency + (config.catalogue_latency if endpoint == "search" else 0.0)
        if delay > 0:
            await anyio.sleep(delay)

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                name = "burst_redirect" if endpoint == "burst" and 300 <= status < 400 else endpoint
                self.counters.request(name, status)
            await send(message)

        if endpoint == "search":
            kind = self.injector.draw_catalogue()
            if kind is not None:
                self.counters.fault(f"catalogue_{kind}")
                response = plain_fault_response(kind, self.injector.faults.retry_after)
                await response(scope, receive, counted)
                return
        await self.app(scope, receive, counted)


class _ByPort:
    """Sends each connection to the app of the local port it came in on."""

    def __init__(self, apps: dict[int, ASGIApp]) -> None:
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.apps[scope["server"][1]](scope, receive, send)


def _s3_disabled(request: Any) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
        "<Message>S3 is not enabled in this sandbox; start it with s3=True</Message></Error>"
    )
    return Response(body, status_code=501, media_type="application/xml")


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class Sandbox:
    """A running simulated CDSE; use as a context manager (``with`` or ``async with``).

    Args:
        config: archive shape, quotas, network and faults.
        host: loopback address to serve on.
        port: catalogue port (0 picks a free one).
        download_port: download port (0 picks a free one); must differ from ``port``.

    Attributes:
        counters: what has been served (requests, grants, sessions, concurrency, bytes).
        archive, endpoints, env, token_url, s3_endpoint, config: see the properties.

    Raises:
        RuntimeError: the server did not come up.

    moto keeps S3 objects per process, so sandboxes started one after another in one
    process share the ``eodata`` bucket's contents.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        download_port: int = 0,
    ) -> None:
        self._config = config if config is not None else SandboxConfig()
        self.host, self._port, self._download_port = host, port, download_port
        self.counters = Counters()
        self._injector = FaultInjector(self._config.faults, self._config.seed)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._archive: Any = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._s3: S3Server | None = None
        self._origins: tuple[str, str] | None = None
        self._ca_file: Path | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Sandbox:
        return await anyio.to_thread.run_sync(self.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.close)

    def _start(self) -> None:
        config = self._config
        if config.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="phidown-sandbox-")
            data_dir = Path(self._tmp.name)
        else:
            data_dir = Path(config.data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
        self._archive = Archive(config, data_dir)
        tls = self._certificates(data_dir) if config.tls else None
        scheme = "https" if tls else "http"
        sockets = [_listen(self.host, self._port), _listen(self.host, self._download_port)]
        try:
            ports = tuple(s.getsockname()[1] for s in sockets)
            self._origins = (
                f"{scheme}://{self.host}:{ports[0]}",
                f"{scheme}://{self.host}:{ports[1]}",
            )
            self._serve(self._app(*ports), sockets, tls)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        if config.s3:
            self._s3 = S3Server(self.host, config.s3_access_key, config.s3_secret_key)
            self._s3.start()
            products = self._archive.products
            if config.s3_products is not None:
                products = products[: config.s3_products]
            self._s3.upload(self._archive, products)

    def _app(self, catalogue_port: int, download_port: int) -> ASGIApp:
        """Both origins' routes behind their gates, dispatched by local port."""
        catalogue_origin, download_origin = self._require_started()
        tokens = TokenService(self._current, self.counters, f"{catalogue_origin}/auth/realms/CDSE")
        downloads = Downloads(
            self._archive, tokens, self.counters, self._injector, self._current, download_origin
        )
        bursts = Bursts(downloads)
        catalogue_routes: list[BaseRoute] = [
            Route(STATS_PATH, self._stats_route, methods=["GET"]),
            *tokens.routes(),
            *downloads.catalogue_routes(),
            *bursts.catalogue_routes(),
        ]
        if not self._config.s3:
            catalogue_routes += [
                Route("/eodata", _s3_disabled, methods=["GET", "HEAD", "PUT"]),
                Route("/eodata/{key:path}", _s3_disabled, methods=["GET", "HEAD", "PUT"]),
            ]
        catalogue_routes += catalogue.routes(self._archive, self._config)
        download_routes: list[BaseRoute] = [*downloads.download_routes(), *bursts.download_routes()]

        def gate(routes: list[BaseRoute], origin: str) -> Gate:
            return Gate(
                Starlette(routes=routes), origin, self._current, self._injector, self.counters
            )

        return _ByPort(
            {
                catalogue_port: gate(catalogue_routes, "catalogue"),
                download_port: gate(download_routes, "download"),
            }
        )

    def _certificates(self, data_dir: Path) -> Path:
        """A throwaway CA and a certificate for this host; returns the server's key and
        chain (PEM). The CA is `ca_file`, the one file a client must trust."""
        with needs("sandbox", "The sandbox's HTTPS (--tls)"):
            import trustme  # only a sandbox that serves HTTPS needs it

        authority = trustme.CA(organization_name="phidown_async sandbox")
        server = authority.issue_cert(self.host, "localhost")
        self._ca_file = data_dir / "sandbox-ca.pem"
        authority.cert_pem.write_to_path(str(self._ca_file))
        chain = data_dir / "sandbox-server.pem"
        server.private_key_and_cert_chain_pem.write_to_path(str(chain))
        return chain

    def _serve(self, app: ASGIApp, sockets: list[socket.socket], tls: Path | None) -> None:
        """Run uvicorn on ``sockets`` (over TLS with the ``tls`` key and chain) in a daemon
        thread; return once it accepts connections."""
        quiet_injected_faults()
        server_config = uvicorn.Config(
            app,
            ssl_certfile=str(tls) if tls else None,
            ssl_keyfile=str(tls) if tls else None,
            log_config=None,  # leave logging to the host program (pytest, the CLI)
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            proxy_headers=False,
            timeout_graceful_shutdown=1,  # a stalled stream must not hold up close()
            timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(server_config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": sockets},
            name="phidown-sandbox",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)

    def close(self) -> None:
        """Stop every server and remove the temporary data folder (idempotent)."""
        if self._s3 is not None:
            self._s3.stop()
            self._s3 = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=STARTUP_TIMEOUT)
        self._server = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- what clients need ----------------------------------------------------------------

    def _current(self) -> SandboxConfig:
        return self._config

    async def _stats_route(self, request: Request) -> JSONResponse:
        return JSONResponse(self.stats())

    def _require_started(self) -> tuple[str, str]:
        if self._origins is None:
            raise RuntimeError("the sandbox is not running; use it as a context manager")
        return self._origins

    @property
    def config(self) -> SandboxConfig:
        """The settings in force now (``update`` replaces them)."""
        return self._config

    @property
    def archive(self) -> Any:
        """The synthetic archive being served."""
        self._require_started()
        return self._archive

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate (PEM) to trust when the sandbox serves HTTPS, else None."""
        self._require_started()
        return self._ca_file

    @property
    def token_url(self) -> str:
        return f"{self._require_started()[0]}/auth/realms/CDSE/protocol/openid-connect/token"

    @property
    def s3_endpoint(self) -> str:
        """moto's URL when S3 is on, else the catalogue origin (whose /eodata answers 501)."""
        catalogue_origin, _ = self._require_started()
        return self._s3.endpoint if self._s3 is not None else catalogue_origin

    @property
    def endpoints(self) -> Endpoints:
        """Where a client must send every request to use this sandbox."""
        catalogue_origin, download_origin = self._require_started()
        return Endpoints(
            catalogue_url=f"{catalogue_origin}/odata/v1",
            download_url=f"{download_origin}/odata/v1",
            token_url=self.token_url,
            s3_endpoint=self.s3_endpoint,
        )

    @property
    def users(self) -> list[dict[str, str]]:
        """Every account the sandbox accepts: ``[{"username": ..., "password": ...}]``."""
        return [{"username": name, "password": secret} for name, secret in self._config.accounts()]

    def stats(self) -> dict[str, Any]:
        """What ``GET <catalogue URL>/_sandbox/stats`` answers (see the module docstring)."""
        return self.counters.stats(name for name, _ in self._config.accounts())

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point phidown_async at this sandbox (the S3 keys,
        under CDSE's own names, only when it serves S3; ``SSL_CERT_FILE``, the CA to trust,
        only when it serves HTTPS)."""
        endpoints = self.endpoints
        env = {
            "PHIDOWN_CATALOGUE_URL": endpoints.catalogue_url,
            "PHIDOWN_DOWNLOAD_URL": endpoints.download_url,
            "PHIDOWN_TOKEN_URL": endpoints.token_url,
            "PHIDOWN_S3_ENDPOINT": endpoints.s3_endpoint,
            "CDSE_USERNAME": self._config.username,
            "CDSE_PASSWORD": self._config.password,
        }
        if self._ca_file is not None:
            env["SSL_CERT_FILE"] = str(self._ca_file)
        if self._config.s3:
            env["CDSE_S3_ACCESS_KEY"] = self._config.s3_access_key
            env["CDSE_S3_SECRET_KEY"] = self._config.s3_secret_key
        return env

    # -- runtime knobs --------------------------------------------------------------------

    def update(self, **knobs: Any) -> SandboxConfig:
        """Change runtime knobs (``quota`` is an alias of ``max_connections``).

        Changing ``faults`` restarts fault request numbers and draws.

        Returns:
            the new settings.

        Raises:
            ValueError: a knob is unknown, shapes the archive, or has an invalid value.
        """
        changes = {KNOB_ALIASES.get(name, name): value for name, value in knobs.items()}
        fixed = set(changes) - RUNTIME_KNOBS
        if fixed:
            raise ValueError(
                f"cannot change {', '.join(sorted(fixed))} at runtime; "
                f"runtime knobs: {', '.join(sorted(RUNTIME_KNOBS | set(KNOB_ALIASES)))}"
            )
        self._config = dataclasses.replace(self._config, **changes)
        if "faults" in changes:
            self._injector.configure(self._config.faults)
        return self._config

    def set_faults(self, faults: Faults) -> None:
        """Inject ``faults`` from now on (``Faults()`` for none)."""
        self.update(faults=faults)
