"""The product zip of a :class:`~.safe.Safe`: deterministic, stored, streamed in one pass.

Members are stored uncompressed under ``<root>/``, manifest first, by a small streaming
writer, so the bytes can be hashed and written at the same time whatever the product size.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import blake3

from .safe import CHUNK, Safe, manifest_bytes, member_chunks, member_sums

_ZIP_LIMIT = 0xFFFFFFFF  # no zip64: every size and offset must fit in 32 bits


@dataclass(frozen=True)
class ZipDigest:
    """Size and checksums of a complete zip (what the catalogue publishes)."""

    size: int
    md5: str
    blake3: str


def _dos_stamp(when: datetime) -> tuple[int, int]:
    year = min(max(when.year, 1980), 2107)
    time_ = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    date = ((year - 1980) << 9) | (when.month << 5) | when.day
    return time_, date


def zip_chunks(safe: Safe) -> Iterator[bytes]:
    """Stream the product zip: manifest first, then every member, all ZIP_STORED.

    One pre-pass reads every member once for its CRC and manifest checksum; the second
    pass emits headers and data. Memory stays at one chunk whatever the product size.

    Raises:
        ValueError: the zip would need zip64 (4 GiB or more).
    """
    sums = {m.path: member_sums(safe, m) for m in safe.members}
    manifest = manifest_bytes(safe, sums)
    sources: list[tuple[str, int, int, Callable[[], Iterator[bytes]]]] = [
        (
            f"{safe.root}/{safe.manifest_name}",
            len(manifest),
            zlib.crc32(manifest),
            lambda: iter((manifest,)),
        )
    ]
    for m in safe.members:
        crc, _, data = sums[m.path]
        if data is not None:
            produce = lambda data=data: iter((data,))  # noqa: E731
        else:
            produce = lambda m=m: member_chunks(safe, m)  # noqa: E731
        sources.append((f"{safe.root}/{m.path}", m.size, crc, produce))
    total = sum(size + 76 + 2 * len(name.encode()) for name, size, _, _ in sources) + 22
    if total > _ZIP_LIMIT or len(sources) > 0xFFFF:
        raise ValueError(f"{safe.root}: {total} bytes would need zip64, which the sandbox omits")
    dtime, ddate = _dos_stamp(safe.stamp)
    central = []
    offset = 0
    for name, size, crc, produce in sources:
        raw = name.encode()
        header = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, dtime, ddate, crc, size, size, len(raw), 0
        )
        yield header + raw
        written = 0
        for chunk in produce():
            written += len(chunk)
            yield chunk
        if written != size:  # a layout bug would otherwise produce a corrupt zip silently
            raise RuntimeError(f"{name}: produced {written} bytes, expected {size}")
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                0x0314,  # made by: Unix, spec 2.0
                20,
                0,
                0,
                dtime,
                ddate,
                crc,
                size,
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
            + raw
        )
        offset += len(header) + len(raw) + size
    directory = b"".join(central)
    yield directory
    yield struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0
    )


def _coalesce(chunks: Iterator[bytes], limit: int = CHUNK) -> Iterator[bytes]:
    """Join small pieces (headers, small files) so hashers and files see few large writes."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= limit:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def zip_digest(safe: Safe, sink: Callable[[bytes], object] | None = None) -> ZipDigest:
    """Size, MD5 and BLAKE3 of the product zip; ``sink`` also receives every chunk."""
    md5, b3, size = hashlib.md5(), blake3.blake3(), 0
    for chunk in _coalesce(zip_chunks(safe)):
        md5.update(chunk)
        b3.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink(chunk)
    return ZipDigest(size, md5.hexdigest(), b3.hexdigest())


def write_zip(safe: Safe, path: Path) -> ZipDigest:
    """Write the zip to ``path`` atomically (temporary file, then rename) and hash it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            digest = zip_digest(safe, out.write)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return digest
