"""The synchronous facade: phidown's documented API, run on the async core."""

from .downloads import download_burst_on_demand
from .searcher import CopernicusDataSearcher
from .tokens import TokenManager, get_token

__all__ = ["CopernicusDataSearcher", "TokenManager", "download_burst_on_demand", "get_token"]
