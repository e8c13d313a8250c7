"""A SAFE product folder as the sandbox describes it, its files' contents and its manifest.

A :class:`Safe` describes one product folder (its root name, the files inside with their
sizes, and how its manifest is written); the per-mission layouts (:mod:`.safe_s1`,
:mod:`.safe_s2`, :mod:`.safe_s3`) build them. From it this module produces

* each file's contents: deterministic pseudo-random bytes drawn from a BLAKE3 extendable
  output keyed per product and file, so any byte range can be produced without the rest;
* the manifest (``manifest.safe`` or ``xfdumanifest.xml``) listing every data file with
  its ``./``-relative href, exact size and checksum (MD5, or SHA3-256 upper-case for
  Sentinel-2, or emptied for burst extracts).

The zip around them is :mod:`.safe_zip`'s. Everything here is pure computation;
materialising files is the archive's job.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import NamedTuple
from xml.sax.saxutils import quoteattr

import blake3

CHUNK = 1 << 20

# Text files get printable filler (no '<' or '&', so wrapped XML stays well-formed).
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TEXT_TABLE = bytes(b"\n"[0] if b >= 252 else _ALPHABET[b % 64] for b in range(256))

_XML_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<synthetic>\n'
_XML_TAIL = b"\n</synthetic>\n"
_RAW = (b"", b"", False)
_FRAMES: dict[str, tuple[bytes, bytes, bool]] = {
    # extension: (prefix, suffix, is_text)
    ".xml": (_XML_HEAD, _XML_TAIL, True),
    ".xsd": (_XML_HEAD, _XML_TAIL, True),
    ".xsl": (_XML_HEAD, _XML_TAIL, True),
    ".kml": (_XML_HEAD, _XML_TAIL, True),
    ".html": (b"<html><body><pre>\n", b"\n</pre></body></html>\n", True),
    ".tiff": (b"II*\x00", b"", False),
    ".png": (b"\x89PNG\r\n\x1a\n", b"", False),
    ".jp2": (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"", False),
    ".nc": (b"\x89HDF\r\n\x1a\n", b"", False),
}


class Member(NamedTuple):
    """One file of a SAFE folder (a NamedTuple: products have dozens, built often).

    Attributes:
        path: path relative to the SAFE root, ``/``-separated (``measurement/x.tiff``).
        size: exact byte size.
        mime: the manifest's ``mimeType``.
        object_id: the manifest's dataObject ``ID``.
        rep_id: the manifest's ``repID`` (Sentinel-1 only).
        listed: False for files the manifest does not list (``support/*.xsd``, icons).
        text_info: the manifest's ``textInfo`` (Sentinel-3 only).
    """

    path: str
    size: int
    mime: str
    object_id: str = ""
    rep_id: str = ""
    listed: bool = True
    text_info: str = ""


@dataclass(frozen=True)
class Safe:
    """A product folder: what :func:`member_chunks` and :func:`.safe_zip.zip_chunks` make bytes of.

    Attributes:
        root: folder name at the zip root (the product Name, or a burst's ``<stem>.SAFE``).
        key: seed material of the pseudo-random contents (unique per product or burst).
        manifest_name: ``manifest.safe`` or ``xfdumanifest.xml``.
        checksum: ``"MD5"``, ``"SHA3-256"`` or ``""`` (burst extracts: sizes and checksums emptied).
        style: manifest flavour, ``"s1"``, ``"s2"`` or ``"s3"``.
        head: manifest text before ``<dataObjectSection>`` (metadata).
        members: the files, in manifest order.
        stamp: modification time written into the zip entries.
    """

    root: str
    key: bytes
    manifest_name: str
    checksum: str
    style: str
    head: str
    members: tuple[Member, ...]
    stamp: datetime


# --------------------------------------------------------------------------------------
# File contents
# --------------------------------------------------------------------------------------


def member_chunks(safe: Safe, member: Member) -> Iterator[bytes]:
    """Yield the bytes of one data file, in chunks of at most :data:`CHUNK` bytes."""
    name = member.path.rpartition("/")[2]
    prefix, suffix, text = _FRAMES.get(name[name.rfind(".") :] if "." in name else "", _RAW)
    size = member.size
    if size <= len(prefix) + len(suffix):
        data = (prefix + suffix)[:size]
        if data:
            yield data
        return
    xof = blake3.blake3(safe.key + b"\x00" + member.path.encode())
    if prefix:
        yield prefix
    body = size - len(prefix) - len(suffix)
    offset = 0
    while offset < body:
        n = min(CHUNK, body - offset)
        chunk = xof.digest(length=n, seek=offset)
        yield chunk.translate(_TEXT_TABLE) if text else chunk
        offset += n
    if suffix:
        yield suffix


def member_bytes(safe: Safe, member: Member) -> bytes:
    """The whole contents of one data file (use for small files only)."""
    return b"".join(member_chunks(safe, member))


_KEEP = 256 << 10  # members up to this size are kept from the checksum pass for the zip pass


def member_sums(safe: Safe, member: Member) -> tuple[int, str, bytes | None]:
    """CRC-32 and manifest checksum of one file from one pass over its bytes (and the
    bytes themselves when small, so the zip pass need not generate them again)."""
    crc = 0
    digest = hashlib.sha3_256() if safe.checksum == "SHA3-256" else hashlib.md5()
    kept: list[bytes] | None = [] if member.size <= _KEEP else None
    for chunk in member_chunks(safe, member):
        crc = zlib.crc32(chunk, crc)
        if safe.checksum:
            digest.update(chunk)
        if kept is not None:
            kept.append(chunk)
    data = b"".join(kept) if kept is not None else None
    if safe.checksum == "SHA3-256":
        return crc, digest.hexdigest().upper(), data
    return crc, digest.hexdigest() if safe.checksum else "", data


# --------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    """``quoteattr`` without its cost for the common case of nothing to escape."""
    return quoteattr(value) if any(c in value for c in '&<>"\n\t') else f'"{value}"'


def _data_object(style: str, algorithm: str, member: Member, checksum: str) -> str:
    href = _quote("./" + member.path)
    size = str(member.size) if algorithm else ""
    check = f'<checksum checksumName="{algorithm or "MD5"}">{checksum}</checksum>'
    oid = _quote(member.object_id)
    if style == "s1":
        return (
            f"    <dataObject ID={oid} repID={_quote(member.rep_id)}>\n"
            f'      <byteStream mimeType="{member.mime}" size="{size}">\n'
            f'        <fileLocation locatorType="URL" href={href}/>\n'
            f"        {check}\n"
            "      </byteStream>\n"
            "    </dataObject>\n"
        )
    if style == "s2":
        return (
            f"        <dataObject ID={oid}>\n"
            f'            <byteStream mimeType="{member.mime}" size="{size}">\n'
            f'                <fileLocation href={href} locatorType="URL"/>\n'
            f"                {check}\n"
            "            </byteStream>\n"
            "        </dataObject>\n"
        )
    return (
        f"         <dataObject ID={oid}>\n"
        f'            <byteStream mimeType="{member.mime}" size="{size}">\n'
        f'               <fileLocation locatorType="URL" textInfo={_quote(member.text_info)}'
        f" href={href}/>\n"
        f"               {check}\n"
        "            </byteStream>\n"
        "         </dataObject>\n"
    )


def manifest_bytes(safe: Safe, sums: dict[str, tuple[int, str, bytes | None]]) -> bytes:
    """The manifest text: ``safe.head`` plus one dataObject per listed member.

    Args:
        safe: the product.
        sums: ``path -> (crc32, checksum, ...)`` of every member (one pass over the data).
    """
    indent = {"s1": "  ", "s2": "    ", "s3": "      "}[safe.style]
    objects = "".join(
        _data_object(safe.style, safe.checksum, m, sums[m.path][1])
        for m in safe.members
        if m.listed
    )
    root_indent = "   " if safe.style == "s3" else ""
    text = (
        f"{safe.head}{indent}<dataObjectSection>\n{objects}{indent}</dataObjectSection>\n"
        f"{root_indent}</xfdu:XFDU>\n"
    )
    return text.encode()


def manifest_of(safe: Safe) -> bytes:
    """The manifest bytes alone (one pass over the data for the checksums)."""
    return manifest_bytes(safe, {m.path: member_sums(safe, m) for m in safe.members})


# --------------------------------------------------------------------------------------
# Helpers for layouts
# --------------------------------------------------------------------------------------


def distribute(total: int, weights: list[float], minimum: int = 16) -> list[int]:
    """Split ``total`` bytes by ``weights``, each part at least ``minimum`` bytes."""
    scale = sum(weights)
    sizes = [max(minimum, int(total * w / scale)) for w in weights]
    largest = max(range(len(sizes)), key=lambda i: weights[i])
    sizes[largest] = max(minimum, sizes[largest] + total - sum(sizes))
    return sizes


def template(name: str) -> str:
    """The text of a manifest template shipped in ``sandbox/templates`` (``str.format`` fields)."""
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
