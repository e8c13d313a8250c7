"""Where a product lives on CDSE's S3, and which of its objects land where.

A ``.SAFE`` product is a key prefix in the ``eodata`` bucket with one object per file. Its
catalogue ``S3Path`` (``/eodata/<prefix>``) says where; each object's key below the prefix
is its path inside the product folder, and a key that could escape that folder is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import DEFAULT_S3_ENDPOINT, Endpoints, S3Keys
from ...errors import VerificationError
from ..checksums import expected_checksums
from ..intake import is_missing
from ..manifest import MANIFEST_NAMES, parse_manifest
from ..names import fit_name, safe_filename
from ..plan import Job

BUCKET = "eodata"
PARTDIR_SUFFIX = ".partdir"


def split_s3_path(s3_path: str) -> tuple[str, str]:
    """``(bucket, key)`` of a catalogue ``S3Path`` (``/eodata/<key>``), trailing ``/`` removed.

    Raises:
        ValueError: the path is not under ``/eodata/`` or has no key.
    """
    text = str(s3_path).strip()
    if not text.startswith(f"/{BUCKET}/"):
        raise ValueError(f"S3 path must start with /{BUCKET}/, got: {text}")
    key = text[len(BUCKET) + 2 :].strip("/")
    if not key:
        raise ValueError(f"Invalid CDSE S3 path: {text}")
    return BUCKET, key


def s3_endpoint(endpoints: Endpoints, keys: S3Keys) -> str:
    """The S3 endpoint to use: a configured ``PHIDOWN_S3_ENDPOINT`` wins over the ``.s5cfg``
    ``host_base``, which wins over CDSE's default."""
    configured = endpoints.s3_endpoint.rstrip("/")
    if configured != DEFAULT_S3_ENDPOINT:
        return configured
    return (keys.endpoint_url or DEFAULT_S3_ENDPOINT).rstrip("/")


def s3_job(entity: Mapping[str, Any], output_dir: str | Path) -> Job:
    """The job of one product entity (``Id``, ``Name``, ``S3Path``, optional ``Checksum``).

    The ledger knows it as ``s3:<Id>``, apart from the same product fetched as a zip.

    Raises:
        ValueError: the entity has no usable ``S3Path``.
    """
    bucket, key = split_s3_path(str(entity.get("S3Path") or ""))
    item_id = str(entity.get("Id") or key).strip()
    name = key.rsplit("/", 1)[-1] if is_missing(entity.get("Name")) else str(entity["Name"]).strip()
    # The part folder's name is the longest made from it; shortened names stay unique.
    folder = fit_name(safe_filename(name, item_id), 255 - len(PARTDIR_SUFFIX), item_id)
    out = Path(output_dir)
    return Job(
        id=f"s3:{item_id}",
        name=name,
        kind="s3",
        url=f"s3://{bucket}/{key}",
        target=out / folder,
        part=out / f"{folder}{PARTDIR_SUFFIX}",
        checksums=expected_checksums(entity.get("Checksum")),
    )


@dataclass(frozen=True)
class S3Object:
    """One object of a product: its key, path inside the product folder, size and ETag."""

    key: str
    path: str
    size: int
    etag: str | None


def relative_path(key: str, prefix: str) -> str | None:
    """The object's path inside the product folder, or None when it could escape it."""
    rel = key[len(prefix) + 1 :]
    parts = rel.split("/")
    if not rel or "\\" in rel or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
        return None
    return rel


def file_of(folder: Path, rel: str) -> Path:
    """The local path of the object at ``rel`` inside ``folder``."""
    return folder.joinpath(*rel.split("/"))


def etag_of(value: Any) -> str | None:
    """An S3 ETag without its quotes, None when empty."""
    text = str(value or "").strip().strip('"')
    return text or None


def installed_size(folder: Path) -> int | None:
    """Size of an installed product whose manifest-listed files all have their sizes, else None.

    Cheap (sizes only): the folder was verified in full before it got its name.
    """
    manifest = next((folder / n for n in MANIFEST_NAMES if (folder / n).is_file()), None)
    if manifest is None:
        return None
    try:
        entries = parse_manifest(manifest.read_bytes(), source=manifest.name)
    except (VerificationError, OSError):
        return None
    for entry in entries:
        target = file_of(folder, entry.path)
        if entry.size is not None and (not target.is_file() or target.stat().st_size != entry.size):
            return None
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
