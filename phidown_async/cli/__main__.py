"""``python -m phidown_async.cli``: the same as the ``phidown-async`` command."""

from . import main

main()
