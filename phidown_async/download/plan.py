"""Download planning: catalogue entities + an output folder -> jobs.

Pure: no I/O. What the user gave becomes entities first (`intake.take_in`, which looks up
bare Ids and names); this module decides where each product's bytes go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .checksums import expected_checksums
from .intake import Intake, is_missing
from .names import safe_filename
from .results import ItemResult

PART_SUFFIX = ".part"


@dataclass(frozen=True)
class Job:
    """One item to fetch.

    Attributes:
        id: catalogue Id (the ledger key).
        name: catalogue Name.
        kind: ``product`` (``burst`` / ``s3`` for the other transfer functions).
        url: where the bytes come from.
        target: final path; written only after verification.
        part: where bytes stream to until then (the resume point).
        size: expected byte count (catalogue ``ContentLength``), None when unknown or 0.
        checksums: expected digests by algorithm (catalogue ``Checksum``), may be empty.
        method: HTTP method of the request.
    """

    id: str
    name: str
    kind: str
    url: str
    target: Path
    part: Path
    size: int | None = None
    checksums: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"


def _size(value: Any) -> int | None:
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        return None
    return size if size > 0 else None  # old products report 0: unknown, not empty


def _checksums(value: Any) -> dict[str, str]:
    if isinstance(value, (list, tuple)):
        return expected_checksums(list(value))
    if hasattr(value, "tolist"):  # a numpy array out of a parquet round trip
        return expected_checksums(list(value.tolist()))
    return {}


def target_name(name: str, fallback: str) -> str:
    """The file name a product is saved under: its sanitised Name plus ``.zip``."""
    base = safe_filename(name, fallback)
    return base if base.lower().endswith(".zip") else f"{base}.zip"


def plan_jobs(
    entities: Iterable[Mapping[str, Any]],
    output_dir: str | Path,
    *,
    catalogue_url: str,
    kind: str = "product",
) -> list[Job]:
    """Jobs for catalogue entities, one per distinct Id, in input order.

    Args:
        entities: catalogue product entities (``Id``, ``Name``, ``ContentLength``, ``Checksum``).
        output_dir: folder the files land in; nothing is placed outside it.
        catalogue_url: base of ``Products(<Id>)/$value``.
        kind: ledger kind of the jobs.

    Raises:
        ValueError: an entity has no ``Id``.
    """
    out = Path(output_dir)
    base = catalogue_url.rstrip("/")
    jobs: list[Job] = []
    seen: set[str] = set()
    taken: set[str] = set()
    for entity in entities:
        if is_missing(entity.get("Id")):
            raise ValueError(f"entity has no Id: {entity.get('Name')!r}")
        item_id = str(entity["Id"]).strip()
        if item_id in seen:
            continue
        seen.add(item_id)
        name = item_id if is_missing(entity.get("Name")) else str(entity["Name"]).strip()
        file_name = target_name(name, item_id)
        if file_name.lower() in taken:
            # Two Ids with one Name would overwrite each other; keep both apart.
            file_name = target_name(f"{name}-{item_id}", item_id)
        taken.add(file_name.lower())
        target = out / file_name
        jobs.append(
            Job(
                id=item_id,
                name=name,
                kind=kind,
                url=f"{base}/Products({quote(item_id, safe='-')})/$value",
                target=target,
                part=target.with_name(target.name + PART_SUFFIX),
                size=_size(entity.get("ContentLength")),
                checksums=_checksums(entity.get("Checksum")),
            )
        )
    return jobs


def plan_products(
    intake: Intake, output_dir: str | Path, *, catalogue_url: str
) -> tuple[list[tuple[int, Job]], list[tuple[int, ItemResult]]]:
    """Jobs for the records of an intake, one per distinct Id, with input positions.

    Returns:
        ``(jobs, rejected)``: the jobs at the position of their Id's first record, and the
        items the intake rejected.
    """
    jobs = {
        job.id: job
        for job in plan_jobs(
            [r for _, r in intake.records], output_dir, catalogue_url=catalogue_url
        )
    }
    placed: list[tuple[int, Job]] = []
    for index, record in intake.records:
        job = jobs.pop(str(record["Id"]).strip(), None)
        if job is not None:
            placed.append((index, job))
    return placed, list(intake.rejected)
