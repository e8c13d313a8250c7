"""Async search-and-download engine for the Copernicus Data Space Ecosystem (CDSE).

Two ways in:

- the sync facade, phidown's documented API (``CopernicusDataSearcher``, ``TokenManager``,
  ``get_token``, ``download_burst_on_demand``): change one import and phidown scripts run;
- the async API for asyncio programs: ``Session``, ``Search``, ``download_products``,
  ``download_bursts``, ``download_products_s3``.

Downloads return a ``RunSummary`` of ``ItemResult``s and report progress as events
(``ItemStarted``, ``BytesReceived``, ...) to an ``EventSink``: ``progress_sink`` draws
them on a terminal, ``LoggingSink`` turns them into ``logging`` records.
"""

from importlib import import_module
from typing import Any

#: The package's version; pyproject.toml reads it from here (importlib.metadata, which would
#: look it up from the installed files, costs 15-30 ms of every start-up).
__version__ = "0.1.0"

# Public name -> module defining it. Imported on first use, so ``import phidown_async`` stays
# light (pandas, numpy and the S3 client load only when a name that needs them is used).
_EXPORTS = {
    "Account": ".account_list",
    "AuthError": ".errors",
    "BytesReceived": ".events",
    "ChecksumIgnored": ".events",
    "ConfigError": ".errors",
    "CopernicusDataSearcher": ".facade",
    "Credentials": ".config",
    "CredentialsError": ".errors",
    "CredentialsRefusedError": ".errors",
    "DiskFullError": ".errors",
    "Endpoints": ".config",
    "Event": ".events",
    "EventLog": ".events",
    "EventSink": ".events",
    "FailedPage": ".catalogue.search",
    "ItemFailed": ".events",
    "ItemResult": ".download.results",
    "ItemSkipped": ".events",
    "ItemStarted": ".events",
    "ItemVerified": ".events",
    "ItemWaiting": ".events",
    "LedgerError": ".errors",
    "Limits": ".config",
    "LoggingSink": ".logs",
    "MissingExtraError": ".errors",
    "NotFoundError": ".errors",
    "Page": ".catalogue.search",
    "PhidownError": ".errors",
    "QueryError": ".errors",
    "QueryTypeError": ".errors",
    "QuotaChanged": ".events",
    "RetryPolicy": ".retry",
    "RetryScheduled": ".events",
    "RunSummary": ".download.results",
    "S3Keys": ".config",
    "Search": ".catalogue.search",
    "SearchIncompleteError": ".errors",
    "SearchParams": ".query.parameters",
    "ServiceError": ".errors",
    "Session": ".session",
    "TokenManager": ".facade",
    "TokenRefreshed": ".events",
    "TransferError": ".errors",
    "VerificationError": ".errors",
    "download_burst_on_demand": ".facade",
    "download_bursts": ".download.bursts",
    "download_products": ".download",
    "download_products_s3": ".download.s3",
    "get_token": ".facade",
    "load_accounts": ".account_list",
    "progress_sink": ".progress",
    "validate_search": ".query.parameters",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'phidown_async' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
