"""``python -m phidown_async.cli``: the same as the ``phidown-async`` command."""

from . import main

if __name__ == "__main__":  # a --cluster's worker processes import this module again
    main()
