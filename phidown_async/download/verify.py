"""Verification of downloaded bytes: checksums, zip integrity, ``manifest.safe``, safe names.

Everything here blocks (it hashes and reads gigabytes), so async callers run it in a worker
thread; the ``*_async`` wrappers at the bottom do exactly that with ``anyio.to_thread``.
Zip members are always read in chunks: a 2 GB product never needs 2 GB of memory.

Example:
    >>> hasher = StreamHasher(["MD5"])
    >>> hasher.update(b"abc")
    >>> hasher.hexdigests()
    {'MD5': '900150983cd24fb0d6963f7d28e17f72'}
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

# The standard library's ElementTree (expat) never fetches external entities or DTDs.
# It does expand internal entities, so parse_manifest also refuses any DOCTYPE/ENTITY
# declaration outright: a real manifest has none, and that closes "billion laughs".
from xml.etree import ElementTree

import anyio.to_thread
from blake3 import blake3

from ..errors import VerificationError

CHUNK_SIZE = 1 << 20
MANIFEST_NAMES = ("manifest.safe", "xfdumanifest.xml")
# Products whose folder must carry a manifest; a zip of one without it is incomplete.
_SAFE_SUFFIXES = (".safe", ".sen3")
# A manifest is tens to hundreds of KB; refuse to inflate a zip bomb into memory.
_MAX_MANIFEST_BYTES = 32 << 20
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_ERROR_MIME_TYPES = frozenset({"text/html", "application/json", "application/problem+json"})
# How many problems a VerificationError message lists before summarising the rest.
_MAX_LISTED = 5

_ALIASES = {
    "MD5": "MD5",
    "SHA1": "SHA-1",
    "SHA256": "SHA-256",
    "SHA512": "SHA-512",
    "SHA3256": "SHA3-256",
    "SHA3512": "SHA3-512",
    "BLAKE3": "BLAKE3",
}
_HASHLIB_NAMES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-512": "sha512",
    "SHA3-256": "sha3_256",
    "SHA3-512": "sha3_512",
}


def canonical_algorithm(name: str) -> str | None:
    """Canonical name (``MD5``, ``BLAKE3``, ``SHA3-256``, ...) of a checksum algorithm.

    Spelling, case and separators are forgiven (``sha3_256`` -> ``SHA3-256``).

    Returns:
        The canonical name, or None when the algorithm is not supported.
    """
    return _ALIASES.get(re.sub(r"[\s_-]", "", str(name)).upper())


def _new_hash(algorithm: str) -> Any:
    if algorithm == "BLAKE3":
        return blake3()
    # usedforsecurity=False: MD5 here is an integrity check, and FIPS builds allow that.
    return hashlib.new(_HASHLIB_NAMES[algorithm], usedforsecurity=False)


class StreamHasher:
    """Incremental hashing of a byte stream with several algorithms at once.

    Args:
        algorithms: names such as ``"MD5"``, ``"BLAKE3"``, ``"SHA3-256"`` (any spelling
            :func:`canonical_algorithm` accepts); duplicates are hashed once.

    Raises:
        ValueError: an algorithm is not supported.
    """

    def __init__(self, algorithms: Iterable[str]) -> None:
        self._hashes: dict[str, Any] = {}
        for name in algorithms:
            algorithm = canonical_algorithm(name)
            if algorithm is None:
                raise ValueError(f"unsupported checksum algorithm: {name!r}")
            self._hashes.setdefault(algorithm, _new_hash(algorithm))
        self._count = 0

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Canonical names of the algorithms being computed."""
        return tuple(self._hashes)

    @property
    def bytes_hashed(self) -> int:
        """Number of bytes fed so far (primed plus streamed)."""
        return self._count

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Feed the next chunk of the stream."""
        for digest in self._hashes.values():
            digest.update(chunk)
        self._count += len(chunk)

    def hexdigests(self) -> dict[str, str]:
        """Lower-case hex digest of everything fed so far, by canonical algorithm name.

        Hashing may continue afterwards.
        """
        return {name: digest.hexdigest() for name, digest in self._hashes.items()}

    def prime(
        self, path: str | Path, *, limit: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> int:
        """Hash the bytes already on disk (a partial download), before resuming the stream.

        Args:
            path: the partial file.
            limit: hash at most this many leading bytes (None: the whole file).
            chunk_size: bytes read at a time.

        Returns:
            The number of bytes hashed: the offset to resume the download from.

        Raises:
            OSError: the file cannot be read.
        """
        remaining = limit
        primed = 0
        with open(path, "rb") as handle:
            while remaining is None or remaining > 0:
                size = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = handle.read(size)
                if not chunk:
                    break
                self.update(chunk)
                primed += len(chunk)
                if remaining is not None:
                    remaining -= len(chunk)
        return primed

    async def prime_async(
        self, path: str | Path, *, limit: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> int:
        """:meth:`prime` in a worker thread."""
        return await anyio.to_thread.run_sync(
            functools.partial(self.prime, path, limit=limit, chunk_size=chunk_size)
        )


def stream_algorithms(checksums: Iterable[str]) -> tuple[str, ...]:
    """The algorithms worth computing to check a file against ``checksums``.

    BLAKE3 alone when it is among them: it is stronger than MD5 and five times cheaper,
    and a file whose BLAKE3 matches cannot fail an MD5 comparison that a matching MD5
    would pass, so hashing MD5 too buys nothing. Otherwise every algorithm given, and MD5
    when none is (a digest for the ledger).
    """
    names = tuple(dict.fromkeys(canonical_algorithm(n) or n for n in checksums))
    return ("BLAKE3",) if "BLAKE3" in names else names or ("MD5",)


def hash_file(
    path: str | Path, algorithms: Iterable[str], *, chunk_size: int = CHUNK_SIZE
) -> dict[str, str]:
    """Hex digests of a whole file, read in chunks.

    Raises:
        ValueError: an algorithm is not supported.
        OSError: the file cannot be read.
    """
    hasher = StreamHasher(algorithms)
    hasher.prime(path, chunk_size=chunk_size)
    return hasher.hexdigests()


def expected_checksums(entity_checksum_list: Any) -> dict[str, str]:
    """Checksums published by the catalogue for a product, by canonical algorithm.

    Args:
        entity_checksum_list: the product's ``Checksum`` field,
            ``[{"Value": ..., "Algorithm": "MD5", "ChecksumDate": ...}, ...]``; may be empty,
            None, or NaN (a DataFrame cell).

    Returns:
        ``{"MD5": "<lower hex>", "BLAKE3": "<lower hex>"}`` limited to supported algorithms
        with a non-empty hex value (the first value of an algorithm wins).
    """
    result: dict[str, str] = {}
    if not isinstance(entity_checksum_list, list | tuple):
        return result
    for entry in entity_checksum_list:
        if not isinstance(entry, Mapping):
            continue
        algorithm = canonical_algorithm(str(entry.get("Algorithm") or ""))
        value = str(entry.get("Value") or "").strip().lower()
        if algorithm and re.fullmatch(r"[0-9a-f]+", value):
            result.setdefault(algorithm, value)
    return result


def compare_checksums(
    expected: Mapping[str, str], computed: Mapping[str, str], *, name: str
) -> None:
    """Check computed digests against expected ones (hex, case-insensitive).

    Algorithm names are compared in canonical form; only algorithms present in both
    mappings are compared.

    Raises:
        VerificationError: a digest differs; the message names ``name``, the algorithm,
            and the expected and actual values.
    """
    have = {canonical_algorithm(k) or k: v for k, v in computed.items()}
    for key, want in expected.items():
        algorithm = canonical_algorithm(key) or key
        got = have.get(algorithm)
        if got is not None and got.strip().lower() != want.strip().lower():
            raise VerificationError(
                f"{name}: {algorithm} checksum mismatch: expected {want.strip().lower()}, "
                f"got {got.strip().lower()}"
            )


def looks_like_error_page(
    first_bytes: bytes, content_type: str | None, *, expect_zip: bool = True
) -> bool:
    """True when a 200 body is an error page or empty rather than the product.

    Args:
        first_bytes: the first bytes of the body (a few hundred are enough).
        content_type: the ``Content-Type`` header, if any.
        expect_zip: the body should be a zip (products, bursts). When False (a single
            file such as an ``.EOF`` over S3) only HTML and JSON bodies count as errors.
    """
    if not first_bytes:
        return True
    if first_bytes.startswith(_ZIP_MAGIC):
        return False
    if expect_zip:
        return True
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _ERROR_MIME_TYPES:
        return True
    head = first_bytes[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"{"))


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


def _parse_stream(stream: ElementTree.Element, object_id: str, source: str) -> ManifestEntry:
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


def _entry_problem(entry: ManifestEntry, size: int, hasher: StreamHasher | None) -> str | None:
    """What is wrong with one listed file, given its size and the hasher fed its bytes."""
    if entry.size is not None and size != entry.size:
        return f"size mismatch: manifest says {entry.size} bytes, got {size}"
    if not entry.checksum:
        return None
    if hasher is None:
        return f"unsupported checksum algorithm {entry.algorithm!r}"
    got = hasher.hexdigests()[canonical_algorithm(entry.algorithm or "") or ""]
    if got != entry.checksum.lower():
        return (
            f"{entry.algorithm} checksum mismatch: manifest says {entry.checksum.lower()}, "
            f"got {got}"
        )
    return None


def _entry_hasher(entry: ManifestEntry) -> StreamHasher | None:
    if not entry.checksum or canonical_algorithm(entry.algorithm or "") is None:
        return None
    return StreamHasher([entry.algorithm or ""])


def _fail(subject: str, problems: Sequence[str]) -> VerificationError:
    listed = "; ".join(problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    suffix = f"; and {more} more" if more > 0 else ""
    return VerificationError(f"{subject}: {listed}{suffix}")


@dataclass(frozen=True)
class VerifiedZip:
    """What :func:`verify_zip` found in a good zip.

    Attributes:
        root: the product folder inside the zip (``X.SAFE``), ``""`` when the manifest is
            at the top level, or None for a zip without a single product folder.
        files: every file member, normalised (``/`` separators, no ``./``).
        manifest_entries: the files the manifest lists (empty without a manifest, or when
            the manifest check was off).
        manifest: the manifest member's name, or None.
    """

    root: str | None
    files: tuple[str, ...]
    manifest_entries: tuple[ManifestEntry, ...]
    manifest: str | None = None


def _normalise_member(name: str) -> str:
    return "/".join(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    raw = info.filename
    parts = raw.replace("\\", "/").split("/")
    if raw.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", raw):
        return "absolute path"
    if ".." in parts:
        return "parent-directory component"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return None


def _checked_members(archive: zipfile.ZipFile, subject: str) -> dict[str, zipfile.ZipInfo]:
    """File members by normalised name; refuses unsafe, duplicate or no members."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        reason = _unsafe_reason(info)
        if reason:
            raise VerificationError(f"{subject}: refusing member {info.filename!r}: {reason}")
        if info.is_dir():
            continue
        name = _normalise_member(info.filename)
        if not name:
            raise VerificationError(f"{subject}: refusing member {info.filename!r}: empty name")
        if name in members:
            raise VerificationError(f"{subject}: member {name!r} appears twice")
        members[name] = info
    if not members:
        raise VerificationError(f"{subject}: the zip contains no files")
    return members


def _find_root(names: Iterable[str], subject: str) -> tuple[str | None, str | None]:
    """(product folder, manifest member) of a zip's normalised file names."""
    manifests: dict[str, str] = {}
    top_folders: set[str] = set()
    top_files = False
    for name in names:
        head, sep, _ = name.partition("/")
        if sep:
            top_folders.add(head)
        else:
            top_files = True
        folder, _, base = name.rpartition("/")
        # Only a top-level or first-level manifest marks a product folder; manifest.safe
        # wins over xfdumanifest.xml in the same folder.
        if (
            base in MANIFEST_NAMES
            and name.count("/") <= 1
            and (folder not in manifests or base == MANIFEST_NAMES[0])
        ):
            manifests[folder] = name
    if len(manifests) > 1:
        roots = ", ".join(sorted(repr(root) for root in manifests))
        raise VerificationError(f"{subject}: several product folders with manifests: {roots}")
    if manifests:
        root, manifest = next(iter(manifests.items()))
        return root, manifest
    if len(top_folders) == 1 and not top_files:
        return next(iter(top_folders)), None
    return None, None


def _stream_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, hasher: StreamHasher | None, chunk_size: int
) -> None:
    # zipfile checks the CRC when the member is read to its end.
    with archive.open(info) as member:
        while chunk := member.read(chunk_size):
            if hasher is not None:
                hasher.update(chunk)


# What reading a damaged, encrypted or exotic member raises.
_CORRUPT_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)
_MEMBER_ERRORS = (*_CORRUPT_ERRORS, OSError)


def _read_manifest(archive: zipfile.ZipFile, info: zipfile.ZipInfo, subject: str) -> bytes:
    if info.file_size > _MAX_MANIFEST_BYTES:
        raise VerificationError(
            f"{subject}: {info.filename} is {info.file_size} bytes, too large for a manifest"
        )
    try:
        return archive.read(info)
    except _MEMBER_ERRORS as exc:
        raise VerificationError(f"{subject}: {info.filename} is corrupt: {exc}") from None


def verify_zip(
    path: str | Path,
    *,
    expected_size: int | None = None,
    checksums: Mapping[str, str] | None = None,
    computed: Mapping[str, str] | None = None,
    check_manifest: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> VerifiedZip:
    """Check a downloaded zip completely before it is reported as done.

    In order: the file's size; its checksums; that it opens as a zip; that no member could
    escape an extraction folder (absolute paths, ``..``, symlinks, duplicates); that every
    file the product's manifest lists is present with the listed size; then one streaming
    pass over every member checking its CRC and, for listed files, the manifest checksum
    (MD5 / SHA3-256, case-insensitive). A zip without a manifest (an ``.EOF``, a zip
    without a SAFE folder) passes on CRCs alone, unless its folder is a ``.SAFE``/``.SEN3``.

    Args:
        path: the zip file.
        expected_size: byte size the file must have (``Content-Length`` / catalogue).
        checksums: expected whole-file digests by algorithm (see :func:`expected_checksums`).
        computed: digests already computed while streaming; when they cover none of
            ``checksums``, the file is read to compute `stream_algorithms` of them.
        check_manifest: check the manifest's listed files (off for bursts if wanted).
        chunk_size: bytes read at a time.

    Returns:
        What was found: product folder, file members, manifest entries.

    Raises:
        VerificationError: the first failing check; the message names the file or member
            and gives expected against actual values (up to five member problems at once).
    """
    path = Path(path)
    subject = path.name
    try:
        actual_size = path.stat().st_size
    except OSError as exc:
        raise VerificationError(f"{subject}: cannot be read: {exc.strerror or exc}") from None
    if expected_size is not None and actual_size != expected_size:
        raise VerificationError(
            f"{subject}: size mismatch: expected {expected_size} bytes, got {actual_size}"
        )
    if checksums:
        digests = {canonical_algorithm(k) or k: v for k, v in (computed or {}).items()}
        wanted = [a for a in stream_algorithms(checksums) if canonical_algorithm(a)]
        if not any(canonical_algorithm(a) in digests for a in checksums) and wanted:
            digests.update(hash_file(path, wanted, chunk_size=chunk_size))
        compare_checksums(checksums, digests, name=subject)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise VerificationError(f"{subject}: not a valid zip archive: {exc}") from None
    with archive:
        members = _checked_members(archive, subject)
        root, manifest = _find_root(members, subject)
        entries: list[ManifestEntry] = []
        if check_manifest:
            if manifest is not None:
                entries = parse_manifest(
                    _read_manifest(archive, members[manifest], subject),
                    source=f"{subject}:{manifest}",
                )
            elif root and root.lower().endswith(_SAFE_SUFFIXES):
                raise VerificationError(f"{subject}: {root} has no manifest.safe")
        listed, problems = _match_entries(entries, root or "", members, manifest or "")
        if problems:
            raise _fail(subject, problems)
        for name, info in members.items():
            entry = listed.get(name)
            hasher = _entry_hasher(entry) if entry else None
            try:
                _stream_member(archive, info, hasher, chunk_size)
            except _MEMBER_ERRORS as exc:
                # zipfile repeats the member name in its message; it is already the prefix.
                detail = str(exc).replace(f" for file {info.filename!r}", "")
                problems.append(f"{name}: corrupt member: {detail}")
                continue
            problem = _entry_problem(entry, info.file_size, hasher) if entry else None
            if problem:
                problems.append(f"{name}: {problem}")
        if problems:
            raise _fail(subject, problems)
    return VerifiedZip(root, tuple(members), tuple(entries), manifest)


def _match_entries(
    entries: Sequence[ManifestEntry],
    root: str,
    members: Mapping[str, zipfile.ZipInfo],
    manifest: str,
) -> tuple[dict[str, ManifestEntry], list[str]]:
    """Listed entries by member name, and the cheap problems (missing files, sizes)."""
    listed: dict[str, ManifestEntry] = {}
    problems: list[str] = []
    for entry in entries:
        name = f"{root}/{entry.path}" if root else entry.path
        info = members.get(name)
        if info is None:
            problems.append(f"{name}: listed in {manifest} but missing from the zip")
            continue
        if entry.size is not None and info.file_size != entry.size:
            problems.append(
                f"{name}: size mismatch: manifest says {entry.size} bytes, got {info.file_size}"
            )
            continue
        listed[name] = entry
    return listed, problems


@dataclass(frozen=True)
class BadFile:
    """A manifest-listed file of an extracted product that failed its check."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


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
        size = target.stat().st_size
        hasher = None
        # A wrong size already condemns the file: do not read gigabytes to say so twice.
        if entry.size is None or size == entry.size:
            hasher = _entry_hasher(entry)
            if hasher is not None:
                hasher.prime(target, chunk_size=chunk_size)
        problem = _entry_problem(entry, size, hasher)
        if problem:
            bad.append(BadFile(rel, problem))
    return bad


def replace_path(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing what is there (old copy removed after)."""
    if not target.exists() and not target.is_symlink():
        os.replace(source, target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    os.replace(source, target)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def safe_extract(
    zip_path: str | Path, out_dir: str | Path, *, chunk_size: int = CHUNK_SIZE
) -> Path:
    """Extract a product zip into ``out_dir`` without letting any member escape it.

    Members are written to a temporary folder inside ``out_dir`` (so nothing half-written
    is ever visible under the final name), then renamed into place, replacing an older
    copy. A zip with one top folder becomes ``out_dir/<folder>``; any other layout goes
    to ``out_dir/<zip name without .zip>``.

    Args:
        zip_path: the zip file.
        out_dir: where to extract (created when missing).
        chunk_size: bytes copied at a time.

    Returns:
        The product folder (the one holding the manifest when there is one).

    Raises:
        VerificationError: the zip is invalid, has a member that is absolute, contains
            ``..``, is a symlink, or is corrupt (CRC). Nothing is left in ``out_dir``.
    """
    zip_path, out_dir = Path(zip_path), Path(out_dir)
    subject = zip_path.name
    stem = safe_filename(subject[:-4] if subject.lower().endswith(".zip") else subject, "product")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise VerificationError(f"{subject}: not a valid zip archive: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    with archive:
        members = _checked_members(archive, subject)
        root, _ = _find_root(members, subject)
        staging = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=".extracting", dir=out_dir))
        try:
            base = staging.resolve()
            for name, info in members.items():
                target = staging.joinpath(*name.split("/"))
                # The member checks already forbid escaping; this guards the filesystem too.
                if not target.resolve().is_relative_to(base):
                    raise VerificationError(f"{subject}: member {name!r} escapes the folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                # Write errors (disk full) stay OSError: they are not the zip's fault.
                try:
                    with archive.open(info) as src, open(target, "xb") as dst:
                        shutil.copyfileobj(src, dst, chunk_size)
                except _CORRUPT_ERRORS as exc:
                    raise VerificationError(f"{subject}: {name}: corrupt member: {exc}") from None
            top = {name.partition("/")[0] for name in members}
            if len(top) == 1 and all("/" in name for name in members):
                # One top folder; the manifest, if any, sits directly inside it.
                final = out_dir / top.pop()
                replace_path(staging / final.name, final)
                return final
            final = out_dir / stem
            replace_path(staging, final)
            return final / root if root else final
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')
_MAX_NAME_BYTES = 255


def _clean_name(name: str | None) -> str:
    if not name:
        return ""
    text = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters (NUL, newlines, bidi overrides) never belong in a name.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    text = _UNSAFE_CHARS.sub("_", text).strip().lstrip(".").rstrip(". ")
    if len(text.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, dot, suffix = text.rpartition(".")
        keep = f"{dot}{suffix}" if dot and len(suffix) <= 16 else ""
        body = stem if keep else text
        budget = _MAX_NAME_BYTES - len(keep.encode("utf-8"))
        body = body.encode("utf-8")[:budget].decode("utf-8", "ignore")
        text = body + keep
    return text


def safe_filename(name: str | None, fallback: str) -> str:
    """A server-sent file name made safe to join to the output folder.

    Keeps only the last path component, drops control characters and NULs, replaces
    characters Windows forbids, strips leading dots (no ``..``, no hidden files) and
    trailing dots/spaces, and limits the name to 255 bytes.

    Args:
        name: the name from ``Content-Disposition`` (or a zip member).
        fallback: used when nothing is left of ``name``; sanitised the same way.

    Raises:
        ValueError: both ``name`` and ``fallback`` are empty after sanitising.

    Example:
        >>> safe_filename("../../etc/passwd", "product.zip")
        'passwd'
    """
    cleaned = _clean_name(name) or _clean_name(fallback)
    if not cleaned:
        raise ValueError("fallback file name is empty after sanitising")
    return cleaned


_DISPOSITION_PARAM = re.compile(
    r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)'
)


def _decode_ext_value(value: str) -> str | None:
    """RFC 5987 ``charset'lang'percent-encoded`` value, or None when malformed."""
    match = re.fullmatch(r"([A-Za-z0-9!#$%&+^_`{}~-]*)'[^']*'(.*)", value.strip().strip('"'))
    if not match:
        return None
    try:
        return unquote(match[2], encoding=match[1] or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def parse_content_disposition(header: str | None) -> str | None:
    """The file name of a ``Content-Disposition`` header, not yet sanitised.

    Understands ``filename="a b.zip"`` (with backslash escapes), unquoted
    ``filename=a.zip`` (what the burst service sends) and RFC 5987
    ``filename*=UTF-8''na%C3%AFve.zip``, which wins when both are present. Pass the result
    through :func:`safe_filename` before using it.

    Returns:
        The name, or None when the header has none.

    Example:
        >>> parse_content_disposition("attachment; filename=S1A_SLC_IW1_VV.zip")
        'S1A_SLC_IW1_VV.zip'
    """
    if not header:
        return None
    params: dict[str, str] = {}
    for match in _DISPOSITION_PARAM.finditer(";" + header):
        params.setdefault(match[1].lower(), match[2].strip())
    extended = params.get("filename*")
    if extended:
        decoded = _decode_ext_value(extended)
        if decoded:
            return decoded
    plain = params.get("filename")
    if plain is None:
        return None
    if len(plain) >= 2 and plain.startswith('"') and plain.endswith('"'):
        plain = re.sub(r"\\(.)", r"\1", plain[1:-1])
    return plain or None


# Read-only checks may be abandoned on cancel (the thread finishes reading in the
# background); extraction may not, since it must clean up its staging folder itself.


async def verify_zip_async(path: str | Path, **kwargs: Any) -> VerifiedZip:
    """:func:`verify_zip` in a worker thread (same arguments); cancel returns at once."""
    return await anyio.to_thread.run_sync(
        functools.partial(verify_zip, path, **kwargs), abandon_on_cancel=True
    )


async def verify_safe_dir_async(path: str | Path, **kwargs: Any) -> list[BadFile]:
    """:func:`verify_safe_dir` in a worker thread (same arguments); cancel returns at once."""
    return await anyio.to_thread.run_sync(
        functools.partial(verify_safe_dir, path, **kwargs), abandon_on_cancel=True
    )


async def safe_extract_async(zip_path: str | Path, out_dir: str | Path, **kwargs: Any) -> Path:
    """:func:`safe_extract` in a worker thread (same arguments); cancel waits for it."""
    return await anyio.to_thread.run_sync(
        functools.partial(safe_extract, zip_path, out_dir, **kwargs)
    )


async def hash_file_async(
    path: str | Path, algorithms: Iterable[str], **kwargs: Any
) -> dict[str, str]:
    """:func:`hash_file` in a worker thread (same arguments); cancel returns at once."""
    return await anyio.to_thread.run_sync(
        functools.partial(hash_file, path, algorithms, **kwargs), abandon_on_cancel=True
    )
