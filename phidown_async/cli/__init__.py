"""The ``phidown-async`` command line: a typer app gathering one command per module."""

from __future__ import annotations

import typer

from . import demo as _demo
from . import download as _download
from . import ledger as _ledger
from . import sandbox as _sandbox
from . import search as _search

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
