"""``phidown-async sandbox``: serve the simulated CDSE until stopped.

Prints one JSON line (URLs, environment variables, credentials, and under ``"users"``
every account as ``{"username", "password"}``) to stdout, or with ``--env`` the variables
as ``export`` lines for a shell, then serves until SIGINT or SIGTERM.
``GET <catalogue_url>/_sandbox/stats`` tells what each user did (see
`phidown_async.sandbox.server`).
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import MissingExtraError
from ..sandbox.settings import FAULT_KINDS, Faults, SandboxConfig
from .console import fail

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?", re.IGNORECASE)
_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


def parse_size(text: str) -> int:
    """``"64MB"``, ``"1GiB"``, ``"1.5 GB"`` or ``"65536"`` in bytes (KB, MB, GB are powers
    of 1000; KiB, MiB, GiB of 1024).

    Raises:
        typer.BadParameter: not a number of bytes with one of those units.

    Example:
        >>> parse_size("64MiB")
        67108864
    """
    found = _SIZE.fullmatch(text.strip())
    if found is None:
        raise typer.BadParameter(
            f"{text!r} is not a size: give bytes, or a number with B, KB, MB, GB, KiB, MiB "
            "or GiB (64MB, 1GiB)",
            param_hint="--product-size",
        )
    number, unit = found.groups()
    return round(float(number) * _UNITS[(unit or "b").lower()])


def export_lines(env: dict[str, str]) -> str:
    """``env`` as ``export NAME=value`` lines a POSIX shell can source."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def parse_rates(values: list[str], allowed: tuple[str, ...], option: str) -> dict[str, float]:
    """``["reset=0.1", ...]`` as ``{"reset": 0.1}``.

    Raises:
        typer.BadParameter: a value is not ``KIND=RATE`` with a known kind and 0 <= RATE <= 1.
    """
    rates: dict[str, float] = {}
    for value in values:
        kind, sep, rate = value.partition("=")
        try:
            number = float(rate)
        except ValueError:
            number = -1.0
        if not sep or kind not in allowed or not 0.0 <= number <= 1.0:
            raise typer.BadParameter(
                f"{value!r} is not KIND=RATE with KIND in {', '.join(allowed)} and 0 <= RATE <= 1",
                param_hint=option,
            )
        rates[kind] = number
    return rates


@contextlib.contextmanager
def serving(config: SandboxConfig, **ports: int) -> Iterator[Any]:
    """A running sandbox of ``config`` (its web stack loads only now), or exit 2 naming
    the extra it lacks."""
    with contextlib.ExitStack() as stack:
        try:
            from ..sandbox import Sandbox

            running = stack.enter_context(Sandbox(config, **ports))
        except MissingExtraError as exc:
            fail(str(exc))
        yield running


def describe(sandbox: Any) -> dict[str, Any]:
    """What a client needs to use a running sandbox, as a JSON-ready dict."""
    endpoints, config = sandbox.endpoints, sandbox.config
    return {
        "catalogue_url": endpoints.catalogue_url,
        "download_url": endpoints.download_url,
        "token_url": endpoints.token_url,
        "s3_endpoint": endpoints.s3_endpoint,
        "s3": config.s3,
        "username": config.username,
        "password": config.password,
        "users": sandbox.users,
        "s3_access_key": config.s3_access_key if config.s3 else None,
        "s3_secret_key": config.s3_secret_key if config.s3 else None,
        "env": sandbox.env,
    }


def sandbox(
    port: Annotated[int, typer.Option(help="Catalogue port (0: any free port).")] = 0,
    download_port: Annotated[
        int, typer.Option(help="Download port (0: PORT+1 when PORT is given, else any free port).")
    ] = 0,
    products: Annotated[int, typer.Option(help="Products in the archive.")] = 400,
    product_size: Annotated[
        str,
        typer.Option(
            metavar="SIZE",
            help="Size of each product's data, in bytes or with a unit: 64MB, 1GiB.",
        ),
    ] = "256KiB",
    quota: Annotated[int, typer.Option(help="Concurrent downloads per user.")] = 4,
    users: Annotated[
        int, typer.Option(min=1, help="Accounts accepted, each with --quota (listed as users).")
    ] = 1,
    bandwidth: Annotated[
        float | None, typer.Option(help="Per-connection cap in MB/s (unlimited when unset).")
    ] = None,
    latency: Annotated[float, typer.Option(help="Seconds added before every response.")] = 0.0,
    burst_delay: Annotated[float, typer.Option(help="Seconds of burst processing.")] = 0.0,
    range_mode: Annotated[str, typer.Option(help="honor, ignore or reject.")] = "honor",
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Download fault KIND=RATE, repeatable; KIND in {', '.join(FAULT_KINDS)}."
        ),
    ] = None,
    catalogue_fault: Annotated[
        list[str] | None,
        typer.Option(help="Catalogue fault KIND=RATE, repeatable; KIND in 429, 500, 503."),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls/--no-tls",
            help="Serve HTTPS with a throwaway CA (exported as SSL_CERT_FILE), as CDSE does.",
        ),
    ] = False,
    s3: Annotated[bool, typer.Option("--s3/--no-s3", help="Serve S3 (moto).")] = False,
    s3_products: Annotated[int, typer.Option(help="Products uploaded to S3.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the archive and fault draws.")] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where product zips are kept (a temporary folder when unset)."),
    ] = None,
    env: Annotated[
        bool,
        typer.Option(
            "--env",
            help="Print the variables as 'export NAME=value' lines for a shell instead of "
            "the JSON line.",
        ),
    ] = False,
) -> None:
    """Serve a simulated CDSE on 127.0.0.1; print one JSON line with its URLs.

    With --env it prints 'export NAME=value' lines (then a comment line) to source in a shell:
    run phidown-async sandbox --env > sandbox.env in one terminal, . ./sandbox.env in another.
    """
    faults = Faults(
        rates=parse_rates(fault or [], FAULT_KINDS, "--fault"),
        catalogue_rates=parse_rates(
            catalogue_fault or [], ("429", "500", "503"), "--catalogue-fault"
        ),
    )
    try:
        config = SandboxConfig(
            seed=seed,
            products=products,
            product_size=parse_size(product_size),
            max_connections=quota,
            users=users,
            bandwidth=bandwidth,
            latency=latency,
            burst_delay=burst_delay,
            range_mode=range_mode,
            faults=faults,
            tls=tls,
            s3=s3,
            s3_products=s3_products,
            data_dir=data_dir,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if port and not download_port:
        download_port = port + 1

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with serving(config, port=port, download_port=download_port) as running:
            if env:
                sys.stdout.write(export_lines(running.env) + "# the sandbox serves until stopped\n")
            else:
                sys.stdout.write(json.dumps(describe(running)) + "\n")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
