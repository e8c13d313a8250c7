"""Async search-and-download engine for the Copernicus Data Space Ecosystem (CDSE).

Two ways in:

- the sync facade, phidown's documented API (``CopernicusDataSearcher``, ``TokenManager``,
  ``get_token``, ``download_burst_on_demand``): change one import and phidown scripts run;
- the async API for asyncio programs: ``Session``, ``Search``, ``download_products``,
  ``download_bursts``, ``download_products_s3``.
"""

from typing import Any

from .catalogue.search import Search
from .config import Credentials, Endpoints, Limits, S3Keys
from .download import RunSummary, download_products
from .download.bursts import download_bursts
from .errors import (
    AuthError,
    ConfigError,
    CredentialsError,
    NotFoundError,
    PhidownError,
    QueryError,
    QueryTypeError,
    SearchIncompleteError,
    ServiceError,
    TransferError,
    VerificationError,
)
from .facade import CopernicusDataSearcher, TokenManager, download_burst_on_demand, get_token
from .query.parameters import validate_search
from .retry import RetryPolicy
from .session import Session

__all__ = [
    "AuthError",
    "ConfigError",
    "CopernicusDataSearcher",
    "Credentials",
    "CredentialsError",
    "Endpoints",
    "Limits",
    "NotFoundError",
    "PhidownError",
    "QueryError",
    "QueryTypeError",
    "RetryPolicy",
    "RunSummary",
    "S3Keys",
    "Search",
    "SearchIncompleteError",
    "ServiceError",
    "Session",
    "TokenManager",
    "TransferError",
    "VerificationError",
    "download_burst_on_demand",
    "download_bursts",
    "download_products",
    "download_products_s3",
    "get_token",
    "validate_search",
]


def __getattr__(name: str) -> Any:
    # The S3 client (aiobotocore) is imported only by those who use S3.
    if name == "download_products_s3":
        from .download.s3 import download_products_s3

        return download_products_s3
    raise AttributeError(f"module 'phidown_async' has no attribute {name!r}")
