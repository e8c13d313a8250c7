"""Download planning: search results (or bare Ids/names) + an output folder -> jobs.

Pure: no I/O. Turning a name or a bare Id into a catalogue entity needs the network and is done
by the caller (``download.download_products``); this module only says which items need it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .checksums import expected_checksums
from .names import safe_filename

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
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


@dataclass(frozen=True)
class Selection:
    """Items sorted by what they still need: full entities, bare Ids, bare names."""

    entities: tuple[dict[str, Any], ...] = ()
    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


def is_missing(value: Any) -> bool:
    """True for an absent value: None, NaN (a pandas cell) or a blank string."""
    # pandas turns absent cells into NaN (or None), and NaN is truthy: test for both.
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def is_product_id(text: str) -> bool:
    """True when ``text`` has the shape of a catalogue Id (a UUID)."""
    return bool(_UUID.match(text.strip()))


def to_records(items: Any) -> list[Any]:
    """The items one by one: a DataFrame's rows as dicts; a lone dict or string as a list."""
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # a pandas DataFrame
        return list(items.to_dict("records"))
    if isinstance(items, (str, Mapping)):
        return [items]
    return list(items)


def select(items: Any) -> Selection:
    """Sort ``items`` into entities, bare Ids and bare names.

    Args:
        items: a DataFrame from a search, entity dicts, or strings (Ids or product names).

    Raises:
        TypeError: an item is neither a dict nor a string.
        ValueError: a dict has neither ``Id`` nor ``Name``.
    """
    entities: list[dict[str, Any]] = []
    ids: list[str] = []
    names: list[str] = []
    for record in to_records(items):
        if isinstance(record, str):
            text = record.strip()
            if not text:
                continue
            (ids if is_product_id(text) else names).append(text)
        elif isinstance(record, Mapping):
            if not is_missing(record.get("Id")):
                entities.append(dict(record))
            elif not is_missing(record.get("Name")):
                names.append(str(record["Name"]).strip())
            else:
                raise ValueError(f"item has neither Id nor Name: {dict(record)!r}")
        else:
            kind = type(record).__name__
            raise TypeError(f"cannot download {kind!r} items; give dicts or strings")
    return Selection(tuple(entities), tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(names)))


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
