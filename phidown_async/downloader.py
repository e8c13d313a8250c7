"""phidown's ``phidown.downloader`` module path (``from phidown_async.downloader import ...``)."""

from .facade import TokenManager, download_burst_on_demand, get_token
from .facade.tokens import TOKEN_URL

__all__ = ["TOKEN_URL", "TokenManager", "download_burst_on_demand", "get_token"]
