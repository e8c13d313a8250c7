"""Product zips: telling one from an error page, checking it whole, extracting it safely.

Checking and extracting block (they read gigabytes), so async callers use the ``*_async``
wrappers, which run them in a worker thread. Members are always read in chunks: a 2 GB
product never needs 2 GB of memory.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread

from ..errors import VerificationError
from .checksums import (
    CHUNK_SIZE,
    StreamHasher,
    canonical_algorithm,
    compare_checksums,
    compare_size,
    hash_file,
    stream_algorithms,
)
from .manifest import (
    MANIFEST_NAMES,
    BadFile,
    ManifestEntry,
    checksum_problem,
    entry_hasher,
    parse_manifest,
    size_problem,
)
from .names import safe_filename

# Products whose folder must carry a manifest; a zip of one without it is incomplete.
_SAFE_SUFFIXES = (".safe", ".sen3")
# A manifest is tens to hundreds of KB; refuse to inflate a zip bomb into memory.
_MAX_MANIFEST_BYTES = 32 << 20
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_ERROR_MIME_TYPES = frozenset({"text/html", "application/json", "application/problem+json"})
# How many problems a VerificationError message lists before summarising the rest.
_MAX_LISTED = 5


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


def _fail(subject: str, problems: Sequence[BadFile]) -> VerificationError:
    listed = "; ".join(str(problem) for problem in problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    message = f"{subject}: {listed}; and {more} more" if more > 0 else f"{subject}: {listed}"
    if len(problems) == 1:
        (only,) = problems
        return VerificationError(
            message, path=only.path, expected=only.expected, actual=only.actual
        )
    return VerificationError(message, path=subject)


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
    deep: bool = True,
    chunk_size: int = CHUNK_SIZE,
    subject: str | None = None,
) -> VerifiedZip:
    """Check a downloaded zip before it is reported as done.

    In order: the file's size; its checksums; that it opens as a zip; that no member could
    escape an extraction folder (absolute paths, ``..``, symlinks, duplicates); that every
    file the product's manifest lists is present with the listed size; then, when ``deep``,
    one streaming pass over every member checking its CRC and, for listed files, the
    manifest checksum (MD5 / SHA3-256, case-insensitive). A zip without a manifest (an
    ``.EOF``, a zip without a SAFE folder) passes on its structure (and CRCs) alone, unless
    its folder is a ``.SAFE``/``.SEN3``.

    Args:
        path: the zip file.
        expected_size: byte size the file must have (``Content-Length`` / catalogue).
        checksums: expected whole-file digests by algorithm (see :func:`expected_checksums`).
        computed: digests already computed while streaming; when they cover none of
            ``checksums``, the file is read to compute `stream_algorithms` of them.
        check_manifest: check the manifest's listed files (off for bursts if wanted).
        deep: read every member (CRC, listed checksums). Without it the central directory
            and the manifest's listing are checked, which costs a few reads: enough once the
            whole file's checksum from the catalogue has matched.
        chunk_size: bytes read at a time.
        subject: the name messages give the file (default: its own name), e.g. the
            product's when ``path`` is its ``.part`` file.

    Returns:
        What was found: product folder, file members, manifest entries.

    Raises:
        VerificationError: the first failing check; the message names the file or member
            and gives expected against actual values (up to five member problems at once).
    """
    path = Path(path)
    subject = subject or path.name
    try:
        actual_size = path.stat().st_size
    except OSError as exc:
        raise VerificationError(f"{subject}: cannot be read: {exc.strerror or exc}") from None
    compare_size(expected_size, actual_size, name=subject)
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
        for name, info in members.items() if deep else ():
            entry = listed.get(name)
            hasher = entry_hasher(entry) if entry else None
            try:
                _stream_member(archive, info, hasher, chunk_size)
            except _MEMBER_ERRORS as exc:
                problems.append(BadFile(name, f"corrupt member ({exc or type(exc).__name__})"))
                continue
            # Sizes were compared before reading; what is left is the checksum.
            problem = checksum_problem(entry, name, hasher) if entry else None
            if problem:
                problems.append(problem)
        if problems:
            raise _fail(subject, problems)
    return VerifiedZip(root, tuple(members), tuple(entries), manifest)


def _match_entries(
    entries: Sequence[ManifestEntry],
    root: str,
    members: Mapping[str, zipfile.ZipInfo],
    manifest: str,
) -> tuple[dict[str, ManifestEntry], list[BadFile]]:
    """Listed entries by member name, and the cheap problems (missing files, sizes)."""
    listed: dict[str, ManifestEntry] = {}
    problems: list[BadFile] = []
    for entry in entries:
        name = f"{root}/{entry.path}" if root else entry.path
        info = members.get(name)
        if info is None:
            problems.append(BadFile(name, f"listed in {manifest} but missing from the zip"))
            continue
        problem = size_problem(entry, name, info.file_size)
        if problem:
            problems.append(problem)
            continue
        listed[name] = entry
    return listed, problems


def replace_path(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing what is there (old copy removed after)."""
    if not target.exists() and not target.is_symlink():
        os.replace(source, target)
        return
    # A short, unique name: the target's own may already use up the 255 bytes allowed.
    old = target.with_name(f".{target.name[:40]}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    os.replace(source, target)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


# What a download keeps in its folder besides products: the ledger and the engine's
# temporary names (hidden), zips, part files and their records. Never an extraction's name.
_ENGINE_SUFFIXES = (".zip", ".part", ".part.json")


@dataclass(frozen=True)
class _Layout:
    """Where a zip's members go: ``folder`` in the output folder, the product inside it."""

    folder: str
    product: str | None
    members: dict[str, zipfile.ZipInfo]
    nested: bool  # members keep their top folder (``folder`` is that folder)

    def path_of(self, out_dir: Path, member: str) -> Path:
        base = out_dir if self.nested else out_dir / self.folder
        return base.joinpath(*member.split("/"))


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise VerificationError(f"{zip_path.name}: not a valid zip archive: {exc}") from None


def _stem(zip_path: Path) -> str:
    name = zip_path.name
    return safe_filename(name[:-4] if name.lower().endswith(".zip") else name, "product")


def _layout(archive: zipfile.ZipFile, zip_path: Path) -> _Layout:
    """A zip with one top folder becomes that folder; any other, ``<zip name without .zip>``."""
    members = _checked_members(archive, zip_path.name)
    root, _ = _find_root(members, zip_path.name)
    top = {name.partition("/")[0] for name in members}
    if len(top) == 1 and all("/" in name for name in members):
        return _Layout(top.pop(), None, members, nested=True)
    return _Layout(_stem(zip_path), root or None, members, nested=False)


def _holds_members(out_dir: Path, layout: _Layout) -> bool:
    """True when every file of the zip is in place with its size (an earlier extraction)."""
    for name, info in layout.members.items():
        try:
            found = os.lstat(layout.path_of(out_dir, name))
        except OSError:
            return False
        if not stat.S_ISREG(found.st_mode) or found.st_size != info.file_size:
            return False
    return True


def _refusal(out_dir: Path, layout: _Layout, own_names: set[str]) -> str | None:
    """Why extracting into ``layout.folder`` would replace what it must not, or None."""
    name = layout.folder
    if name.startswith(".") or name.lower().endswith(_ENGINE_SUFFIXES):
        return f"its folder {name!r} takes a name kept for the download's own files"
    try:
        found = (out_dir / name).lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(found.st_mode) and name in own_names:
        return None  # an earlier (perhaps damaged) extraction of this product
    # Files of the zip's names and sizes prove nothing: the folder may be the user's, or
    # another product's extraction that this zip imitates.
    return f"{name!r} is already there and is not named after this product"


def extracted_folder(zip_path: str | Path, out_dir: str | Path) -> Path | None:
    """The product folder of an earlier `safe_extract` of this zip into ``out_dir``.

    Returns:
        The folder (as `safe_extract` returns it) when every file of the zip is there
        with its size, else None.

    Raises:
        VerificationError: the zip is invalid or has an unsafe member.
    """
    zip_path, out_dir = Path(zip_path), Path(out_dir)
    with _open_zip(zip_path) as archive:
        layout = _layout(archive, zip_path)
    final = out_dir / layout.folder
    # Members are looked up through the folder: a link planted there would lead elsewhere.
    if final.is_symlink() or not _holds_members(out_dir, layout):
        return None
    return final / layout.product if layout.product else final


def safe_extract(
    zip_path: str | Path,
    out_dir: str | Path,
    *,
    own_names: Iterable[str] = (),
    chunk_size: int = CHUNK_SIZE,
) -> Path:
    """Extract a product zip into ``out_dir`` without letting any member escape it.

    Members are written to a temporary folder inside ``out_dir`` (so nothing half-written
    is ever visible under the final name), then renamed into place. A zip with one top
    folder becomes ``out_dir/<folder>``; any other layout goes to ``out_dir/<zip name
    without .zip>``. That folder must be new, or an earlier extraction of the product,
    which is replaced: a folder named like the product (the zip's name without ``.zip``,
    or one of ``own_names``). Anything else is refused: hidden names (the ledger), zips,
    part files and their records, and every other file or folder already there (even one
    holding every file of the zip: it may be the user's, or another product's).

    Args:
        zip_path: the zip file.
        out_dir: where to extract (created when missing).
        own_names: the product's own folder names (e.g. its catalogue Name).
        chunk_size: bytes copied at a time.

    Returns:
        The product folder (the one holding the manifest when there is one).

    Raises:
        VerificationError: the zip is invalid, has a member that is absolute, contains
            ``..``, is a symlink, or is corrupt (CRC), or its folder's name is refused.
            Nothing is left in ``out_dir``.
    """
    zip_path, out_dir = Path(zip_path), Path(out_dir)
    subject = zip_path.name
    archive = _open_zip(zip_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    with archive:
        layout = _layout(archive, zip_path)
        refusal = _refusal(out_dir, layout, {_stem(zip_path), *own_names})
        if refusal:
            raise VerificationError(f"{subject}: {refusal}")
        # A short prefix: the product's name may already use up the 255 bytes allowed.
        staging = Path(
            tempfile.mkdtemp(prefix=f".{_stem(zip_path)[:40]}.", suffix=".extracting", dir=out_dir)
        )
        try:
            base = staging.resolve()
            for name, info in layout.members.items():
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
            final = out_dir / layout.folder
            replace_path(staging / layout.folder if layout.nested else staging, final)
            return final / layout.product if layout.product else final
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


# Read-only checks may be abandoned on cancel (the thread finishes reading in the
# background); extraction may not, since it must clean up its staging folder itself.


async def verify_zip_async(path: str | Path, **kwargs: Any) -> VerifiedZip:
    """:func:`verify_zip` in a worker thread (same arguments); cancel returns at once."""
    return await anyio.to_thread.run_sync(
        functools.partial(verify_zip, path, **kwargs), abandon_on_cancel=True
    )


async def safe_extract_async(zip_path: str | Path, out_dir: str | Path, **kwargs: Any) -> Path:
    """:func:`safe_extract` in a worker thread (same arguments); cancel waits for it."""
    return await anyio.to_thread.run_sync(
        functools.partial(safe_extract, zip_path, out_dir, **kwargs)
    )


async def extracted_folder_async(zip_path: str | Path, out_dir: str | Path) -> Path | None:
    """:func:`extracted_folder` in a worker thread; cancel returns at once."""
    return await anyio.to_thread.run_sync(
        extracted_folder, zip_path, out_dir, abandon_on_cancel=True
    )
