"""SAFE manifests (``manifest.safe``, ``xfdumanifest.xml``) and the files they list.

`parse_manifest` reads the list; the per-entry checks compare a file with its entry, and
`verify_safe_dir` applies them to an extracted product folder.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from ..errors import VerificationError
from .checksums import CHUNK_SIZE, StreamHasher, canonical_algorithm

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

MANIFEST_NAMES = ("manifest.safe", "xfdumanifest.xml")


@dataclass(frozen=True)
class ManifestEntry:
    """One file listed in a manifest's ``dataObjectSection``.

    Attributes:
        href: the location as written (``./measurement/....tiff``).
        size: byte size, or None when the manifest leaves it empty (burst outputs).
        algorithm: canonical checksum algorithm when supported, else as written, or None.
        checksum: hex checksum as written, or None when empty.
    """

    href: str
    size: int | None
    algorithm: str | None
    checksum: str | None

    @property
    def path(self) -> str:
        """The file's path relative to the product folder, with ``/`` separators."""
        return _relative_href(self.href, "manifest")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _relative_href(href: str, source: str) -> str:
    text = href.strip().replace("\\", "/")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if (
        not parts
        or text.startswith("/")
        or re.match(r"[A-Za-z]:", text)
        or "://" in text
        or ".." in parts
    ):
        raise VerificationError(f"{source}: file location {href!r} is not inside the product")
    return "/".join(parts)


def parse_manifest(xml_bytes: bytes, source: str = "manifest.safe") -> list[ManifestEntry]:
    """Files listed by a SAFE ``manifest.safe`` (S1, S2) or ``xfdumanifest.xml`` (S3).

    Namespace-agnostic: reads ``dataObjectSection/dataObject/byteStream`` with its ``size``,
    ``fileLocation@href`` and ``checksum@checksumName``. Entries with an empty size or
    checksum are kept with None.

    Args:
        xml_bytes: the manifest's content.
        source: the manifest's name, used in error messages.

    Raises:
        VerificationError: the manifest is not well-formed, declares a DTD or entities,
            has no ``dataObjectSection``, a byte stream without a location, a location
            outside the product, or a size that is not a number.
    """
    # The standard library's ElementTree (expat) never fetches external entities or DTDs.
    # It does expand internal entities, so any DOCTYPE/ENTITY declaration is refused
    # outright: a real manifest has none, and that closes "billion laughs". Imported here:
    # 5 ms that a run pays only when it checks a manifest, not at every start.
    from xml.etree import ElementTree

    if b"<!DOCTYPE" in xml_bytes or b"<!ENTITY" in xml_bytes:
        raise VerificationError(f"{source}: DTD and entity declarations are not allowed")
    try:
        root = ElementTree.fromstring(xml_bytes)
    except ElementTree.ParseError as exc:
        raise VerificationError(f"{source} is not well-formed XML: {exc}") from None
    sections = [el for el in root.iter() if _local(el.tag) == "dataObjectSection"]
    if not sections:
        raise VerificationError(f"{source} has no dataObjectSection")
    entries: list[ManifestEntry] = []
    for section in sections:
        for data_object in section:
            if _local(data_object.tag) != "dataObject":
                continue
            object_id = data_object.get("ID", "?")
            streams = [el for el in data_object if _local(el.tag) == "byteStream"]
            if not streams:
                raise VerificationError(f"{source}: dataObject {object_id!r} has no byteStream")
            entries.extend(_parse_stream(stream, object_id, source) for stream in streams)
    return entries


def _parse_stream(stream: Element, object_id: str, source: str) -> ManifestEntry:
    hrefs = [el.get("href") for el in stream if _local(el.tag) == "fileLocation"]
    href = next((h for h in hrefs if h and h.strip()), None)
    if href is None:
        raise VerificationError(f"{source}: dataObject {object_id!r} has no fileLocation href")
    _relative_href(href, source)
    size_text = (stream.get("size") or "").strip()
    if size_text and not size_text.isdigit():
        raise VerificationError(
            f"{source}: dataObject {object_id!r} has a non-numeric size {size_text!r}"
        )
    checksum_el = next((el for el in stream if _local(el.tag) == "checksum"), None)
    algorithm = checksum = None
    if checksum_el is not None:
        name = (checksum_el.get("checksumName") or "").strip()
        algorithm = (canonical_algorithm(name) or name) if name else None
        checksum = (checksum_el.text or "").strip() or None
    return ManifestEntry(href, int(size_text) if size_text else None, algorithm, checksum)


@dataclass(frozen=True)
class BadFile:
    """A listed or zipped file of a product that failed its check.

    Attributes:
        path: the file, relative to the product folder (in a zip: the member name).
        reason: what is wrong, with expected against actual values.
        expected: the size or checksum the manifest lists, when a comparison failed.
        actual: the size or checksum found, when a comparison failed.
    """

    path: str
    reason: str
    expected: str | int | None = None
    actual: str | int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def entry_hasher(entry: ManifestEntry) -> StreamHasher | None:
    """A hasher for the entry's checksum, or None when it has none or it is unsupported."""
    if not entry.checksum or canonical_algorithm(entry.algorithm or "") is None:
        return None
    return StreamHasher([entry.algorithm or ""])


def size_problem(entry: ManifestEntry, path: str, size: int) -> BadFile | None:
    """The problem of file ``path`` when its ``size`` is not the one listed, else None."""
    if entry.size is None or size == entry.size:
        return None
    reason = f"size mismatch: manifest says {entry.size} bytes, got {size}"
    return BadFile(path, reason, entry.size, size)


def checksum_problem(
    entry: ManifestEntry, path: str, hasher: StreamHasher | None
) -> BadFile | None:
    """The problem of file ``path`` when its checksum is not the one listed, else None.

    Args:
        entry: the file's manifest entry.
        path: the file's name in the problem.
        hasher: the :func:`entry_hasher` of ``entry``, fed the file's bytes.
    """
    if not entry.checksum:
        return None
    if hasher is None:
        return BadFile(path, f"unsupported checksum algorithm {entry.algorithm!r}")
    got = hasher.hexdigests()[canonical_algorithm(entry.algorithm or "") or ""]
    want = entry.checksum.lower()
    if got == want:
        return None
    reason = f"{entry.algorithm} checksum mismatch: manifest says {want}, got {got}"
    return BadFile(path, reason, want, got)


def verify_safe_dir(path: str | Path, *, chunk_size: int = CHUNK_SIZE) -> list[BadFile]:
    """Check an extracted product folder against its manifest.

    Every listed file must exist (inside the folder) with the listed size and checksum;
    files the manifest does not list are not checked.

    Args:
        path: the product folder (``X.SAFE`` / ``X.SEN3``).
        chunk_size: bytes read at a time.

    Returns:
        The bad files (missing, wrong size, wrong checksum), empty when all are good.

    Raises:
        VerificationError: the folder has no manifest, or the manifest is broken.
    """
    folder = Path(path)
    manifest = next((folder / n for n in MANIFEST_NAMES if (folder / n).is_file()), None)
    if manifest is None:
        raise VerificationError(f"{folder.name}: no manifest.safe or xfdumanifest.xml")
    entries = parse_manifest(manifest.read_bytes(), source=f"{folder.name}/{manifest.name}")
    base = folder.resolve()
    bad: list[BadFile] = []
    for entry in entries:
        rel = entry.path
        target = folder.joinpath(*rel.split("/"))
        if not target.resolve().is_relative_to(base):
            bad.append(BadFile(rel, "resolves outside the product folder"))
            continue
        if not target.is_file():
            bad.append(BadFile(rel, "missing"))
            continue
        # A wrong size already condemns the file: do not read gigabytes to say so twice.
        problem = size_problem(entry, rel, target.stat().st_size)
        if problem is None:
            hasher = entry_hasher(entry)
            if hasher is not None:
                hasher.prime(target, chunk_size=chunk_size)
            problem = checksum_problem(entry, rel, hasher)
        if problem:
            bad.append(problem)
    return bad


async def verify_safe_dir_async(path: str | Path, **kwargs: Any) -> list[BadFile]:
    """:func:`verify_safe_dir` in a worker thread (same arguments); cancel returns at once."""
    return await anyio.to_thread.run_sync(
        functools.partial(verify_safe_dir, path, **kwargs), abandon_on_cancel=True
    )
