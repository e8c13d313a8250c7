"""What a download would do, fetching nothing: its items, their sizes, what is already there.

`preview_download` takes the same items as the download functions, looks up bare Ids and
names in the catalogue (no download request, no token), plans the jobs as a run would, and
reads the ledger: an item recorded done whose file is still in place is already there; a
partial file left by an earlier run is the point a run would resume from.

Example:
    preview = await preview_download(frame, "data/", session=session)
    minutes = preview.seconds_at(4 * 20e6) / 60  # at a general account's quota
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread

from ..ledger import Ledger
from ..session import Session
from .intake import Kind, take_in
from .plan import Job, catalogue_size, plan_products
from .pool import still_there
from .results import ItemResult
from .run import LEDGER_NAME

__all__ = ["DownloadPreview", "PlannedItem", "preview_download"]


@dataclass(frozen=True)
class PlannedItem:
    """One item of a planned run.

    Attributes:
        id, name: the item.
        size: its expected size in bytes (None when the catalogue does not say).
        target: where it would land (None for an item that cannot be downloaded).
        there: already downloaded: recorded done in the ledger and still in place.
        partial: bytes of a partial file a run would resume from.
        reason: why the item cannot be downloaded (None when it can).
    """

    id: str
    name: str
    size: int | None = None
    target: Path | None = None
    there: bool = False
    partial: int = 0
    reason: str | None = None

    @property
    def status(self) -> str:
        """``fetch``, ``there`` or ``failed``."""
        if self.reason is not None:
            return "failed"
        return "there" if self.there else "fetch"

    @property
    def to_fetch(self) -> int | None:
        """Bytes a run would still receive (None when the size is unknown)."""
        if self.status != "fetch":
            return 0
        if self.size is None:
            return None
        return max(0, self.size - self.partial)


@dataclass(frozen=True)
class DownloadPreview:
    """The planned run: one `PlannedItem` per distinct item, in input order."""

    items: tuple[PlannedItem, ...]

    def count(self, status: str) -> int:
        """How many items have ``status`` (``fetch``, ``there`` or ``failed``)."""
        return sum(1 for item in self.items if item.status == status)

    @property
    def bytes_total(self) -> int:
        """Known sizes of every item that can be downloaded, there or not."""
        return sum(item.size or 0 for item in self.items if item.status != "failed")

    @property
    def bytes_there(self) -> int:
        """Bytes already in place (items there, and partial files)."""
        return sum(
            (item.size or 0) if item.there else item.partial
            for item in self.items
            if item.status != "failed"
        )

    @property
    def bytes_to_fetch(self) -> int:
        """Bytes a run would receive, over the items of known size."""
        return sum(item.to_fetch or 0 for item in self.items)

    @property
    def unknown_sizes(self) -> int:
        """Items to fetch whose size is unknown (not counted in `bytes_to_fetch`)."""
        return sum(1 for item in self.items if item.status == "fetch" and item.size is None)

    def seconds_at(self, rate: float) -> float:
        """Seconds to receive `bytes_to_fetch` at ``rate`` bytes per second."""
        return self.bytes_to_fetch / rate if rate > 0 else float("inf")


def _partial(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():  # an S3 product's folder of parts
            return sum(
                (Path(root) / name).stat().st_size
                for root, _, names in os.walk(path)
                for name in names
            )
    except OSError:
        return 0
    return 0


def _is_there(job: Job, ledger: Ledger | None) -> bool:
    row = ledger.get(job.id) if ledger is not None else None
    if row is None or row.state != "done":
        return False
    if job.kind == "s3":
        return Path(row.path or job.target).is_dir()
    return still_there(row.path, row.size)


def _check(
    jobs: list[tuple[int, Job, int | None]], ledger_path: Path
) -> list[tuple[int, PlannedItem]]:
    """Each job against the ledger (when there is one) and the disk."""
    opened = Ledger(ledger_path, readonly=True) if ledger_path.is_file() else None
    with opened if opened is not None else contextlib.nullcontext() as ledger:
        planned = []
        for index, job, size in jobs:
            there = _is_there(job, ledger)
            planned.append(
                (
                    index,
                    PlannedItem(
                        job.id,
                        job.name,
                        size=size,
                        target=job.target,
                        there=there,
                        partial=0 if there else min(_partial(job.part), size or 1 << 62),
                    ),
                )
            )
    return planned


def _rejected(index: int, result: ItemResult) -> tuple[int, PlannedItem]:
    return index, PlannedItem(result.id, result.name, reason=result.reason or "unusable item")


async def preview_download(
    items: Any,
    output_dir: str | Path,
    *,
    session: Session,
    kind: Kind = "product",
    ledger_path: str | Path | None = None,
) -> DownloadPreview:
    """The run that ``download_products`` (``burst``: ``download_bursts``; ``s3``:
    ``download_products_s3``) would make of ``items``, without fetching anything.

    Args:
        items: a search DataFrame, entity dicts, or Id / name strings.
        output_dir: the folder the files would go to.
        session: for the catalogue look-ups of bare Ids and names (no token needed).
        kind: which download: ``product``, ``burst`` or ``s3``.
        ledger_path: the ledger (default ``<output_dir>/.phidown_ledger.sqlite``).

    Raises:
        TypeError: ``items`` has entries that are neither dicts nor strings.
    """
    out = Path(output_dir)
    intake = await take_in(items, kind, session)
    records = dict(intake.records)
    catalogue_url = session.endpoints.catalogue_url
    if kind == "burst":
        from .bursts import plan_bursts

        jobs, rejected = plan_bursts(intake, out, catalogue_url=catalogue_url)
    elif kind == "s3":
        from .s3 import plan_s3  # the S3 client's modules only when S3 is asked for

        jobs, rejected = plan_s3(intake, out)
    else:
        jobs, rejected = plan_products(intake, out, catalogue_url=catalogue_url)
    sized = [
        (index, job, job.size or catalogue_size(records[index].get("ContentLength")))
        for index, job in jobs
    ]
    ledger = Path(ledger_path) if ledger_path is not None else out / LEDGER_NAME
    checked = await anyio.to_thread.run_sync(functools.partial(_check, sized, ledger))
    placed = sorted([*checked, *(_rejected(i, r) for i, r in rejected)], key=lambda p: p[0])
    return DownloadPreview(tuple(item for _, item in placed))
