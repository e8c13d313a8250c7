"""phidown's ``phidown.search`` module path (``from phidown_async.search import ...``)."""

from .facade import CopernicusDataSearcher

__all__ = ["CopernicusDataSearcher"]
