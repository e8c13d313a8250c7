"""The ``phidown-async`` command line: a typer app gathering one command per module.

The command modules import the engine (pandas, httpx, the sandbox) only when a command
runs, so ``phidown-async --help`` and shell completion stay quick.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from .. import __version__
from . import demo as _demo
from . import download as _download
from . import ledger as _ledger
from . import sandbox as _sandbox
from . import search as _search
from .console import EXIT_OK, PROGRAM
from .logs import LEVELS, configure, release

PANEL = "Output and logging"


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class _Commands(TyperGroup):
    """The command group; a reader that stopped reading (``| head -1``) ends the run
    quietly with exit 0."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(EXIT_OK) from None


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROGRAM} {__version__}")
        raise typer.Exit(EXIT_OK)


app = typer.Typer(name=PROGRAM, cls=_Commands, no_args_is_help=True, add_completion=True)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
            rich_help_panel=PANEL,
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress display; log errors only.",
            rich_help_panel=PANEL,
        ),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Log more: -v every item's start and outcome, -vv everything.",
            rich_help_panel=PANEL,
            show_default=False,
        ),
    ] = 0,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            metavar="LEVEL",
            help=f"Logging level: {', '.join(LEVELS)} (overrides -q/-v; default WARNING).",
            rich_help_panel=PANEL,
            show_default=False,
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            metavar="PATH",
            help="Append log records to PATH instead of stderr.",
            rich_help_panel=PANEL,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Search and download Copernicus Data Space data: fast, resumable, verified.

    Log records go to stderr (or --log-file); results and tables go to stdout.
    """
    configure(quiet, verbose, log_level, log_file)
    # The demo and tests run commands in-process: leave no handler behind.
    ctx.call_on_close(release)


# Each command lives in its own module; register it here with one line.
app.command("search")(_search.search)
app.command("download")(_download.download)
app.command("ledger")(_ledger.ledger)
app.command(
    "sandbox", epilog="Example: phidown-async sandbox --quota 4 --bandwidth 20 --fault reset=0.02"
)(_sandbox.sandbox)
app.command("demo")(_demo.demo)


def main() -> None:
    """Console-script entry point (exit 2 on bad usage, as typer does)."""
    app()
