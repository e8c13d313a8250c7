"""The synchronous facade: phidown's documented API, run on the async core."""

from .searcher import CopernicusDataSearcher

__all__ = ["CopernicusDataSearcher"]
