"""``python -m phidown_async.sandbox``: the same as ``phidown-async sandbox``."""

import typer

from ..cli.sandbox import sandbox

if __name__ == "__main__":
    typer.run(sandbox)
