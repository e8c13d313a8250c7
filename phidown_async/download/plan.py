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

from .checksums import IgnoredChecksum, catalogue_checksums
from .intake import Intake, is_missing
from .names import fit_name, safe_filename
from .partfile import SIDECAR_SUFFIX
from .results import ItemResult

PART_SUFFIX = ".part"
# The longest name made from a target is its sidecar's temporary copy while it is saved
# (`partfile.PartFile.save`); it too must fit in the 255 bytes a file name may take.
TARGET_NAME_BYTES = 255 - len(PART_SUFFIX + SIDECAR_SUFFIX + ".12345678.tmp")


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
        ignored_checksums: catalogue checksums left out because they are malformed.
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
    ignored_checksums: tuple[IgnoredChecksum, ...] = ()


def catalogue_size(value: Any) -> int | None:
    """A catalogue `ContentLength` as bytes; None when missing, not a number, or 0."""
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        return None
    return size if size > 0 else None  # old products report 0: unknown, not empty


def _checksums(value: Any) -> tuple[dict[str, str], tuple[IgnoredChecksum, ...]]:
    if hasattr(value, "tolist"):  # a numpy array out of a parquet round trip
        value = value.tolist()
    return catalogue_checksums(list(value) if isinstance(value, (list, tuple)) else None)


def target_name(name: str, item_id: str) -> str:
    """The file name a product is saved under: its sanitised Name plus ``.zip``.

    A name too long for its part file's record to fit in 255 bytes is shortened, with a
    hash of ``item_id`` keeping it unique (see `names.fit_name`); the ledger records it.
    """
    base = safe_filename(name, item_id)
    base = base if base.lower().endswith(".zip") else f"{base}.zip"
    return fit_name(base, TARGET_NAME_BYTES, item_id)


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
        checksums, ignored = _checksums(entity.get("Checksum"))
        jobs.append(
            Job(
                id=item_id,
                name=name,
                kind=kind,
                url=f"{base}/Products({quote(item_id, safe='-')})/$value",
                target=target,
                part=target.with_name(target.name + PART_SUFFIX),
                size=catalogue_size(entity.get("ContentLength")),
                checksums=checksums,
                ignored_checksums=ignored,
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
