"""``phidown-async demo``: the whole mission against the bundled simulated CDSE, in minutes.

Starts the sandbox in-process with a realistic quota (4 connections, a per-connection rate
cap, a few injected faults), over HTTPS as CDSE (its throwaway CA trusted through
``SSL_CERT_FILE``), then runs the real commands (``search``, ``download``,
``ledger``) exactly as a user would type them, pointed at the sandbox through the
environment: a search over the Po Valley, a few dozen products and a hundred bursts
downloaded with live progress and verified, the summaries, and the temporal distribution
plot. No credentials and no network are needed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.panel import Panel

from ..errors import MissingExtraError
from ..extras import needs
from ..sandbox.settings import Faults, SandboxConfig
from .console import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    current_args,
    fail,
    format_bytes,
    format_seconds,
    stdout,
)
from .sandbox import serving

MARKER = ".phidown-demo"
# The Po Valley: the sandbox keeps Sentinel-1 SLC stacks there in summer 2024.
AOI = "POLYGON((10.5 45.2, 11.5 45.2, 11.5 45.8, 10.5 45.8, 10.5 45.2))"
PRODUCT_PERIOD = ("2024-01-01", "2024-12-31")
BURST_PERIOD = ("2024-06-01", "2024-10-01")
BURSTS = 100


def sandbox_config(data_dir: Path | None = None) -> SandboxConfig:
    """The demo's simulated CDSE: realistic quota, rate cap and a low rate of faults."""
    return SandboxConfig(
        seed=7,
        products=600,
        product_size=6_000_000,
        max_connections=4,
        bandwidth=5.0,  # MB/s per connection: 20 MB/s for the account, as on CDSE
        burst_delay=0.25,
        latency=0.02,
        faults=Faults(
            rates={"reset": 0.03, "short": 0.02, "corrupt": 0.02, "500": 0.02, "429": 0.02},
            catalogue_rates={"503": 0.02},
            retry_after=0.5,
        ),
        data_dir=data_dir,
        tls=True,  # the real CDSE is HTTPS only
    )


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration, then restore the previous ones."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_command(console: Console, args: list[str]) -> int:
    """Run ``phidown-async ARGS`` in this process, as typed in a shell; returns its exit code."""
    from . import app  # the app module imports this one: look it up at call time

    console.print()
    console.print(
        f"$ phidown-async {shlex.join(args)}", style="bold cyan", markup=False, soft_wrap=True
    )
    token = current_args.set(args)
    try:
        code = typer.main.get_command(app).main(
            args, prog_name="phidown-async", standalone_mode=False
        )
    except click.ClickException as exc:  # bad usage: shown as the shell would show it
        exc.show()
        code = exc.exit_code
    finally:
        current_args.reset(token)
    return int(code or 0)


def _prepare(out: Path, fresh: bool) -> None:
    if out.exists() and fresh:
        if not (out / MARKER).is_file():
            fail(f"{out} exists and was not made by the demo; choose another --out-dir")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by phidown-async demo; safe to delete\n", encoding="utf-8")


def _files(folder: Path) -> tuple[int, int]:
    zips = [p for p in folder.glob("*.zip") if p.is_file()]
    return len(zips), sum(p.stat().st_size for p in zips)


def _plot(products_file: Path, target: Path) -> Path | None:
    from ..analysis import plot_temporal_distribution
    from .results import read_results

    written = plot_temporal_distribution(
        read_results(products_file), output_path=target, show=False
    )
    return Path(written) if written else None


def _check_extras() -> None:
    """Exit 2 naming the extra the demo lacks, before it prints or starts anything."""
    try:
        from ..sandbox import Sandbox  # noqa: F401 - the web stack

        with needs("sandbox", "The demo's sandbox"):
            import trustme  # noqa: F401 - it serves HTTPS
        with needs("plot", "The demo's plot"):
            import matplotlib  # noqa: F401
    except MissingExtraError as exc:
        fail(str(exc))


def demo(
    out_dir: Annotated[
        Path, typer.Option("--out-dir", "-o", help="Folder for everything the demo writes.")
    ] = Path("demo-output"),
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh/--resume",
            help="Start from an empty folder, or resume the previous demo's downloads.",
        ),
    ] = True,
) -> None:
    """Run the whole mission against a simulated CDSE: search, bulk download, verify, plot.

    No credentials or network needed.
    Exit status 0 when every product and burst is verified.

    Example:

    phidown-async demo --out-dir demo-output
    """
    _check_extras()
    started = time.monotonic()
    console = stdout()
    out = out_dir  # relative paths keep the printed commands short
    _prepare(out, fresh)
    products_file, bursts_file = out / "products.csv", out / "bursts.geojson"
    q = shlex.quote
    product_query = f"--aoi {q(AOI)} --start {PRODUCT_PERIOD[0]} --end {PRODUCT_PERIOD[1]}"
    burst_query = f"--aoi {q(AOI)} --start {BURST_PERIOD[0]} --end {BURST_PERIOD[1]}"
    commands = (
        f"search -c SENTINEL-1 {product_query} --count",
        f"search -c SENTINEL-1 {product_query} --order-by 'ContentDate/Start asc' "
        f"--out {q(str(products_file))}",
        f"download {q(str(products_file))} --out-dir {q(str(out / 'products'))} --retry-delay 0.5",
        f"search --burst-mode {burst_query} --polarisation VV --limit {BURSTS} "
        f"--out {q(str(bursts_file))}",
        f"download {q(str(bursts_file))} --out-dir {q(str(out / 'bursts'))} --retry-delay 0.5",
        f"ledger {q(str(out / 'products'))}",
        f"ledger {q(str(out / 'bursts'))}",
    )
    steps = [shlex.split(command) for command in commands]
    console.print(
        Panel(
            "A simulated CDSE runs on 127.0.0.1 with CDSE's quota: 4 connections per account, "
            "5 MB/s per connection, and a few injected faults (connection resets, short and "
            "corrupt bodies, 429 and 5xx answers). The commands below are the real CLI.",
            title="phidown-async demo",
        )
    )
    codes: list[int] = []
    with serving(sandbox_config()) as sandbox, environment(sandbox.env):
        for args in steps:
            code = run_command(console, args)
            codes.append(code)
            if code == EXIT_INTERRUPTED or (code != EXIT_OK and args[0] == "search"):
                break  # stopped by the user, or nothing to download without the results
    plot = None
    if products_file.is_file():
        console.print()
        console.print("Temporal distribution of the products", style="bold cyan")
        plot = _plot(products_file, out / "temporal_distribution.png")
        console.print(f"Plot written to {plot}" if plot else "Too few products to plot.")
    products = _files(out / "products")
    bursts = _files(out / "bursts")
    ok = all(code == EXIT_OK for code in codes) and len(codes) == len(steps) and plot is not None
    lines = [
        f"products: {products[0]} zips, {format_bytes(products[1])} in {out / 'products'}",
        f"bursts:   {bursts[0]} zips, {format_bytes(bursts[1])} in {out / 'bursts'}",
        f"plot:     {plot}",
        f"time:     {format_seconds(time.monotonic() - started)}",
        "every file was verified before it was kept" if ok else "some steps failed: see above",
    ]
    console.print()
    console.print(
        Panel(
            "\n".join(lines),
            title="demo finished" if ok else "demo incomplete",
            border_style="green" if ok else "red",
        )
    )
    if not ok:
        raise typer.Exit(EXIT_FAILED)
