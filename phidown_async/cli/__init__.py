"""The ``phidown-async`` command line: a typer app gathering one command per module."""

from __future__ import annotations

import typer

from . import sandbox as _sandbox

app = typer.Typer(
    name="phidown-async",
    no_args_is_help=True,
    add_completion=False,
    help="Search and download Copernicus Data Space data: fast, resumable, verified.",
)


@app.callback()
def _root() -> None:
    """Search and download Copernicus Data Space data: fast, resumable, verified."""
    # A callback keeps typer in multi-command mode while only one command exists.


# Each command lives in its own module; register it here with one line.
app.command("sandbox")(_sandbox.sandbox)


def main() -> None:
    """Console-script entry point (exit 2 on bad usage, as typer does)."""
    app()
