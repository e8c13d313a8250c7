"""What a download run returns: one `ItemResult` per item, in input order, in a `RunSummary`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from ..errors import TransferError

if TYPE_CHECKING:
    import pandas as pd

    from .plan import Job

Status = Literal["downloaded", "skipped", "failed"]


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one item.

    Attributes:
        id, name: the item.
        status: ``downloaded`` (verified and in place), ``skipped`` (nothing to do, or
            another process holds it) or ``failed``.
        path: the verified file (None unless downloaded, or skipped because already there).
        reason: why it failed or was skipped.
        attempts: requests tried for it in this run.
        bytes: bytes received over the network in this run.
        size: size of the verified file.
        checksum: ``<algorithm>:<hex>`` of the verified file, when known.
        notes: what the user should know about an item that is otherwise fine (e.g. a
            malformed catalogue checksum that was ignored).
        permanent: the failure will not go away by trying again (not found, refused by
            the server, the same wrong bytes every time); False for failures another run
            may fix (network, server errors, throttling, out of tries, a full disk).
        account: the account that fetched (or tried) it, in a run of several accounts.
    """

    id: str
    name: str
    status: Status
    path: Path | None = None
    reason: str | None = None
    attempts: int = 0
    bytes: int = 0
    size: int | None = None
    checksum: str | None = None
    notes: tuple[str, ...] = ()
    permanent: bool = False
    account: str | None = None


_FIELDS = tuple(field.name for field in fields(ItemResult))
_STATUSES = get_args(Status)


@dataclass(frozen=True)
class RunSummary:
    """Every item's outcome (in input order) and how long the run took."""

    results: tuple[ItemResult, ...]
    seconds: float

    def _count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def downloaded(self) -> int:
        return self._count("downloaded")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def bytes(self) -> int:
        """Bytes received over the network in this run."""
        return sum(result.bytes for result in self.results)

    @property
    def failures(self) -> tuple[ItemResult, ...]:
        return tuple(result for result in self.results if result.status == "failed")

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return self.failed == 0

    def to_frame(self) -> pd.DataFrame:
        """One row per `ItemResult`, in input order, with the fields as typed columns.

        ``status`` is categorical (downloaded, skipped, failed), ``path`` text, ``size``
        Int64 (missing when unknown), ``attempts`` and ``bytes`` int64, ``permanent`` bool,
        ``notes`` the notes joined by ``"; "`` (missing when none), ``account`` the account
        that fetched the item (missing in a one-account run).

        Example:
            summary.to_frame().groupby("status", observed=False)["bytes"].sum()
        """
        import pandas as pd  # only when asked: pandas is slow to import

        rows = [
            {
                **{name: getattr(result, name) for name in _FIELDS},
                "path": None if result.path is None else str(result.path),
                "notes": "; ".join(result.notes) or None,
            }
            for result in self.results
        ]
        df = pd.DataFrame(rows, columns=list(_FIELDS), dtype=object)
        return df.astype(
            {
                "id": "str",
                "name": "str",
                "status": pd.CategoricalDtype(_STATUSES),
                "attempts": "int64",
                "bytes": "int64",
                "size": "Int64",
                "permanent": "bool",
            }
        )

    def raise_for_failures(self, listed: int = 5) -> None:
        """Raise `TransferError` when an item failed; do nothing otherwise.

        Args:
            listed: how many failures the message names (with their reasons).

        Raises:
            TransferError: its ``failures`` holds every failed `ItemResult`.

        Example:
            summary = await download_products(df, "data/")
            summary.raise_for_failures()
        """
        failures = self.failures
        if not failures:
            return
        lines = [f"  {r.name or r.id}: {r.reason or 'no reason given'}" for r in failures[:listed]]
        if len(failures) > listed:
            lines.append(f"  and {len(failures) - listed} more")
        raise TransferError(
            f"{len(failures)} of {len(self.results)} items failed:\n" + "\n".join(lines),
            failures=failures,
        )


def already_there(job: Job, size: int, checksum: str | None = None) -> ItemResult:
    """The skipped result of a job whose verified file (or folder) is already in place."""
    return ItemResult(
        job.id,
        job.name,
        "skipped",
        path=job.target,
        reason="already on disk and verified",
        size=size,
        checksum=checksum,
    )
