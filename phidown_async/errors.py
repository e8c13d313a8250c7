"""One exception tree for the whole package.

::

    PhidownError
    ├── ConfigError                 bad settings or files (.s5cfg, config.json)
    │   ├── CredentialsError        a credential is missing; says where to put it
    │   ├── LedgerError             the ledger file cannot be used (a folder, damaged, not a ledger)
    │   └── MissingExtraError       an optional dependency is not installed; names the extra
    ├── QueryError (ValueError)     a search parameter is invalid (phidown's messages)
    │   └── QueryTypeError (TypeError)   ... of the wrong type
    ├── ServiceError                CDSE answered with an error we cannot retry away
    │   ├── AuthError               token grant refused (bad credentials, expired session)
    │   │   └── CredentialsRefusedError   the password grant refused the account (also a
    │   │                                 CredentialsError: fix the credentials, don't retry)
    │   └── NotFoundError           unknown product, burst or collection
    ├── SearchIncompleteError       a search page kept failing; names the page
    ├── DiskFullError               no space left: the run stopped, every partial file kept
    ├── TransferError               items of a run failed (`RunSummary.raise_for_failures`)
    └── VerificationError           downloaded bytes do not match size, checksum, zip or manifest

`QueryError` and `QueryTypeError` also derive from ValueError / TypeError, so code written
for phidown (which raises those) keeps catching them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .download.results import ItemResult


class PhidownError(Exception):
    """Base of every error raised by phidown_async.

    Errors pickle as they are (message and attributes): a Dask worker's error reaches the
    client unchanged, although most take keyword arguments besides the message.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(
    kind: type[PhidownError], args: tuple[object, ...], state: dict[str, object]
) -> PhidownError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(PhidownError):
    """Settings or a configuration file are invalid."""


class MissingExtraError(ConfigError):
    """An optional dependency is missing; the message names the extra that installs it.

    Attributes:
        extra: the extra's name (``sandbox``, ``s3``, ``geo``, ...).
    """

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class CredentialsError(ConfigError):
    """A needed credential is missing; the message says where to put it."""


class LedgerError(ConfigError):
    """The ledger file cannot be used: a folder, a damaged file or another program's database.

    Attributes:
        path: the ledger file.
        problem: what is wrong with it, in a few words.
    """

    def __init__(self, message: str, *, path: str, problem: str) -> None:
        super().__init__(message)
        self.path = path
        self.problem = problem


class QueryError(PhidownError, ValueError):
    """A search parameter is invalid."""


class QueryTypeError(QueryError, TypeError):
    """A search parameter has the wrong type."""


class ServiceError(PhidownError):
    """CDSE answered with an error that retrying will not fix.

    Attributes:
        status: HTTP status code (None for transport-level failures).
        code: the service's error code when it sent one (e.g. ``DAT-ZIP-604``).
        url: the request URL (never carries a token).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.url = url


class AuthError(ServiceError):
    """The token endpoint refused the credentials or the session."""


class CredentialsRefusedError(AuthError, CredentialsError):
    """The token endpoint refused the user name or password (the password grant).

    It is a `CredentialsError` too: like a missing credential, only the user can fix it.
    """


class NotFoundError(ServiceError):
    """The product, burst or collection does not exist."""


class SearchIncompleteError(PhidownError):
    """A catalogue page could not be fetched after all retries.

    Attributes:
        skip: the ``$skip`` of the page that failed.
        cause: the last error seen for it.
    """

    def __init__(
        self, message: str, *, skip: int | None = None, cause: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.skip = skip
        self.cause = cause


class DiskFullError(PhidownError):
    """The disk (or the account's disk quota) is full: the run stopped where it was.

    Every partial file is kept as a resume point; running again once there is space resumes.

    Attributes:
        device: the full file system (its mount point, or the path written to).
        pending: items left without an outcome when the run stopped (None when not known).
    """

    def __init__(self, device: str, *, pending: int | None = None) -> None:
        left = ""
        if pending is not None:
            left = f": {pending} item{'' if pending == 1 else 's'} left pending"
        super().__init__(f"no space left on {device}{left}")
        self.device = device
        self.pending = pending


class TransferError(PhidownError):
    """Items of a download run failed after their retries.

    Raised by `RunSummary.raise_for_failures`, for callers that want failures as an error
    rather than as results.

    Attributes:
        failures: the failed items' `ItemResult`s, in input order.
    """

    def __init__(self, message: str, *, failures: Iterable[ItemResult] = ()) -> None:
        super().__init__(message)
        self.failures = tuple(failures)


class VerificationError(PhidownError):
    """Downloaded bytes failed verification (size, checksum, zip or manifest).

    Attributes:
        path: the file or zip member checked, as the message names it, or None.
        expected: the size or checksum it should have, when a comparison failed.
        actual: the size or checksum it has, when a comparison failed.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        expected: str | int | None = None,
        actual: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual
