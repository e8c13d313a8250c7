"""Bytes of the sandbox's products: SAFE layouts, manifests and deterministic zips.

A :class:`Safe` describes one product folder (its root name, the files inside with their
sizes, and how its manifest is written). From it this module streams

* each file's contents: deterministic pseudo-random bytes drawn from a BLAKE3 extendable
  output keyed per product and file, so any byte range can be produced without the rest;
* the manifest (``manifest.safe`` or ``xfdumanifest.xml``) listing every data file with
  its ``./``-relative href, exact size and checksum (MD5, or SHA3-256 upper-case for
  Sentinel-2, or emptied for burst extracts);
* the product zip: members stored uncompressed under ``<root>/``, written in one pass by a
  small streaming writer so the bytes can be hashed and written at the same time.

Everything here is pure computation; materialising files is the archive's job.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

import blake3

CHUNK = 1 << 20
_ZIP_LIMIT = 0xFFFFFFFF  # no zip64: every size and offset must fit in 32 bits

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
    """A product folder: what :func:`zip_chunks` and :func:`member_chunks` turn into bytes.

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


@dataclass(frozen=True)
class ZipDigest:
    """Size and checksums of a complete zip (what the catalogue publishes)."""

    size: int
    md5: str
    blake3: str


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


def _member_sums(safe: Safe, member: Member) -> tuple[int, str, bytes | None]:
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


# --------------------------------------------------------------------------------------
# Zip
# --------------------------------------------------------------------------------------


def _dos_stamp(when: datetime) -> tuple[int, int]:
    year = min(max(when.year, 1980), 2107)
    time_ = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    date = ((year - 1980) << 9) | (when.month << 5) | when.day
    return time_, date


def zip_layout(safe: Safe) -> list[tuple[str, int]]:
    """``(zip member name, size)`` of every entry, in zip order, without producing bytes."""
    entries = [(f"{safe.root}/{safe.manifest_name}", -1)]
    entries += [(f"{safe.root}/{m.path}", m.size) for m in safe.members]
    return entries


def zip_chunks(safe: Safe) -> Iterator[bytes]:
    """Stream the product zip: manifest first, then every member, all ZIP_STORED.

    One pre-pass reads every member once for its CRC and manifest checksum; the second
    pass emits headers and data. Memory stays at one chunk whatever the product size.

    Raises:
        ValueError: the zip would need zip64 (4 GiB or more).
    """
    sums = {m.path: _member_sums(safe, m) for m in safe.members}
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


def manifest_of(safe: Safe) -> bytes:
    """The manifest bytes alone (one pass over the data for the checksums)."""
    return manifest_bytes(safe, {m.path: _member_sums(safe, m) for m in safe.members})


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


def xml_text(value: object) -> str:
    """Escape a value for XML character data."""
    return escape(str(value))


# --------------------------------------------------------------------------------------
# Sentinel-1 (IW/EW SLC and GRD) and burst extracts
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class S1Meta:
    """What a Sentinel-1 SAFE needs to know about its product.

    ``pols`` are in the Name's order (``("VV", "VH")`` for ``1SDV``); ``footprint`` is the
    catalogue ring as ``(lon, lat)`` pairs.
    """

    name: str
    mission: str  # "S1A"
    mode: str  # "IW" | "EW"
    level: str  # "SLC" | "GRD"
    pols: tuple[str, ...]
    start: datetime
    stop: datetime
    orbit: int
    relative_orbit: int
    cycle: int
    direction: str
    anx: datetime
    datatake: int
    timeliness: str
    slice_number: int
    total_slices: int
    processed: datetime
    ipf: str
    footprint: tuple[tuple[float, float], ...]

    @property
    def swaths(self) -> tuple[str, ...]:
        """Sub-swath codes of the measurement files (``iw1..iw3``; ``iw`` for GRD)."""
        if self.level == "SLC":
            count = 3 if self.mode == "IW" else 5
            return tuple(f"{self.mode.lower()}{i}" for i in range(1, count + 1))
        return (self.mode.lower(),)

    def file_index(self, swath: str, pol: str) -> int:
        """The ``-00N`` index: cross-pol first for SLC (VH 1-3, VV 4-6), co-pol first for GRD."""
        order = list(self.pols) if self.level == "GRD" else list(reversed(self.pols))
        return order.index(pol) * len(self.swaths) + self.swaths.index(swath) + 1

    def file_stem(self, swath: str, pol: str) -> str:
        """``s1a-iw1-slc-vh-<start>-<stop>-<orbit>-<datatake>-001`` for one swath and pol."""
        start, stop = self.start, self.stop
        if self.level == "SLC":  # each sub-swath covers a slightly shorter window
            k = self.swaths.index(swath)
            start = datetime.fromtimestamp(start.timestamp() + min(k, 1), start.tzinfo)
            stop = datetime.fromtimestamp(stop.timestamp() - max(0, 2 - k), stop.tzinfo)
        return (
            f"{self.mission.lower()}-{swath}-{self.level.lower()}-{pol.lower()}-"
            f"{start:%Y%m%dt%H%M%S}-{stop:%Y%m%dt%H%M%S}-{self.orbit:06d}-{self.datatake:06x}-"
            f"{self.file_index(swath, pol):03d}"
        )


_S1_SUPPORT = (
    "s1-level-1-product.xsd",
    "s1-level-1-noise.xsd",
    "s1-level-1-rfi.xsd",
    "s1-level-1-calibration.xsd",
    "s1-object-types.xsd",
    "s1-level-1-measurement.xsd",
    "s1-product-preview.xsd",
    "s1-level-1-quicklook.xsd",
    "s1-map-overlay.xsd",
)
_S1_SCHEMAS = (
    ("s1Level1ProductSchema", "s1-level-1-product.xsd"),
    ("s1Level1NoiseSchema", "s1-level-1-noise.xsd"),
    ("s1Level1RfiSchema", "s1-level-1-rfi.xsd"),
    ("s1Level1CalibrationSchema", "s1-level-1-calibration.xsd"),
    ("s1ObjectTypesSchema", "s1-object-types.xsd"),
    ("s1Level1MeasurementSchema", "s1-level-1-measurement.xsd"),
    ("s1Level1ProductPreviewSchema", "s1-product-preview.xsd"),
    ("s1Level1QuickLookSchema", "s1-level-1-quicklook.xsd"),
    ("s1Level1MapOverlaySchema", "s1-map-overlay.xsd"),
)


def _s1_members(meta: S1Meta, pairs: list[tuple[str, str]], payload: int) -> list[Member]:
    """Annotation, calibration, noise, rfi and measurement files of ``(swath, pol)`` pairs."""
    specs: list[tuple[str, str, str, str, float]] = []
    for swath, pol in pairs:
        stem = meta.file_stem(swath, pol)
        oid = stem.replace("-", "")
        specs += [
            (f"annotation/{stem}.xml", "text/xml", f"product{oid}", "s1Level1ProductSchema", 2.0),
            (
                f"annotation/calibration/noise-{stem}.xml",
                "text/xml",
                f"noise{oid}",
                "s1Level1NoiseSchema",
                0.6,
            ),
            (f"annotation/rfi/rfi-{stem}.xml", "text/xml", f"rfi{oid}", "s1Level1RfiSchema", 0.05),
            (
                f"annotation/calibration/calibration-{stem}.xml",
                "text/xml",
                f"calibration{oid}",
                "s1Level1CalibrationSchema",
                1.0,
            ),
        ]
    measurements = [
        (
            f"measurement/{meta.file_stem(s, p)}.tiff",
            "application/octet-stream",
            meta.file_stem(s, p).replace("-", ""),
            "s1Level1MeasurementSchema",
            100.0,
        )
        for s, p in pairs
    ]
    sizes = distribute(payload, [w for *_, w in specs + measurements])
    members = [
        Member(path, size, mime, oid, rep)
        for (path, mime, oid, rep, _), size in zip(specs + measurements, sizes, strict=True)
    ]
    return members


def s1_safe(meta: S1Meta, payload: int, key: bytes) -> Safe:
    """A Sentinel-1 SAFE of about ``payload`` bytes (measurement tiffs get most of them)."""
    pairs = [(s, p) for p in _index_order(meta) for s in meta.swaths]
    previews = [
        ("preview/map-overlay.kml", "text/xml", "mapoverlay", "s1Level1MapOverlaySchema", True),
        (
            "preview/product-preview.html",
            "text/xml",
            "productpreview",
            "s1Level1ProductPreviewSchema",
            True,
        ),
        (
            "preview/quick-look.png",
            "application/octet-stream",
            "quicklook",
            "s1Level1QuickLookSchema",
            True,
        ),
        ("preview/thumbnail.png", "image/png", "", "", False),
        ("preview/icons/logo.png", "image/png", "", "", False),
    ]
    small = max(16, payload // 400)
    extra = [
        Member(path, small, mime, oid, rep, listed) for path, mime, oid, rep, listed in previews
    ]
    extra += [Member(f"support/{x}", small, "text/xml", listed=False) for x in _S1_SUPPORT]
    data = _s1_members(meta, pairs, max(payload - small * len(extra), 16 * len(pairs) * 5))
    annotations = [m for m in data if not m.path.startswith("measurement/")]
    measurements = [m for m in data if m.path.startswith("measurement/")]
    members = (*annotations, *extra[:2], *measurements, *extra[2:])
    return Safe(
        meta.name,
        key,
        "manifest.safe",
        "MD5",
        "s1",
        _s1_head(meta, members),
        members,
        meta.processed,
    )


def _index_order(meta: S1Meta) -> list[str]:
    return sorted(meta.pols, key=lambda p: meta.file_index(meta.swaths[0], p))


@dataclass(slots=True)
class BurstMeta:
    """A burst extract: its parent's metadata plus which swath, polarisation and burst."""

    parent: S1Meta
    stem: str  # zip name without ``.zip``; the SAFE folder is ``<stem>.SAFE``
    swath: str  # "IW1"
    pol: str  # "VV"
    start: datetime
    stop: datetime
    footprint: tuple[tuple[float, float], ...]


def burst_safe(meta: BurstMeta, payload: int, key: bytes) -> Safe:
    """The extract of one burst: one annotation set and one tiff; manifest sizes/checksums empty."""
    parent = meta.parent
    swath = meta.swath.lower()
    data = _s1_members(parent, [(swath, meta.pol)], payload)
    shape = replace(
        parent,
        name=f"{meta.stem}.SAFE",
        pols=(meta.pol,),
        start=meta.start,
        stop=meta.stop,
        footprint=meta.footprint,
    )
    return Safe(
        f"{meta.stem}.SAFE",
        key,
        "manifest.safe",
        "",
        "s1",
        _s1_head(shape, data),
        tuple(data),
        meta.start,
    )


def _s1_head(meta: S1Meta, members: tuple[Member, ...] | list[Member]) -> str:
    level = "slc" if meta.level == "SLC" else "grd"
    units = []
    for m in members:
        if not m.listed:
            continue
        unit = (
            "Measurement Data Unit"
            if m.rep_id
            in (
                "s1Level1MeasurementSchema",
                "s1Level1QuickLookSchema",
            )
            else "Metadata Unit"
        )
        units.append(
            f'      <xfdu:contentUnit unitType="{unit}" repID="{m.rep_id}">\n'
            f'        <dataObjectPointer dataObjectID="{m.object_id}"/>\n'
            "      </xfdu:contentUnit>\n"
        )
    pols = "".join(
        f"            <s1sarl1:transmitterReceiverPolarisation>{p}"
        "</s1sarl1:transmitterReceiverPolarisation>\n"
        for p in meta.pols
    )
    coords = " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in meta.footprint[:-1])
    schemas = "".join(
        f'    <metadataObject ID="{rep}" classification="SYNTAX" category="REP">\n'
        f'      <metadataReference mimeType="text/xml" vocabularyName="XML Schema" '
        f'locatorType="URL" href="./support/{xsd}"/>\n'
        "    </metadataObject>\n"
        for rep, xsd in _S1_SCHEMAS
    )
    start_anx = (meta.start - meta.anx).total_seconds() * 1000
    stop_anx = (meta.stop - meta.anx).total_seconds() * 1000
    number = meta.mission[-1]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xmlns:gml="http://www.opengis.net/gml" xmlns:xfdu="urn:ccsds:schema:xfdu:1" \
xmlns:safe="http://www.esa.int/safe/sentinel-1.0" \
xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1" \
xmlns:s1sar="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar" \
xmlns:s1sarl1="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1" \
xmlns:gx="http://www.google.com/kml/ext/2.2" \
version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/{level}/standard/{meta.mode.lower()}dp">
  <informationPackageMap>
    <xfdu:contentUnit unitType="SAFE Archive Information Package" \
textInfo="Sentinel-1 {meta.mode} Level-1 {meta.level} Product" \
dmdID="acquisitionPeriod platform generalProductInformation measurementOrbitReference \
measurementFrameSet" pdiID="processing">
{"".join(units)}    </xfdu:contentUnit>
  </informationPackageMap>
  <metadataSection>
    <metadataObject ID="processing" classification="PROVENANCE" category="PDI">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Processing">
        <xmlData>
          <safe:processing name="{meta.level} Processing" \
start="{meta.processed:%Y-%m-%dT%H:%M:%S.%f}">
            <safe:facility country="Italy" name="Copernicus Ground Segment" organisation="ESA" \
site="Production Service-SERCO">
              <safe:software name="Sentinel-1 IPF" version="{meta.ipf}"/>
            </safe:facility>
          </safe:processing>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="platform" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Platform Description">
        <xmlData>
          <safe:platform>
            <safe:nssdcIdentifier>2014-016{number}</safe:nssdcIdentifier>
            <safe:familyName>SENTINEL-1</safe:familyName>
            <safe:number>{number}</safe:number>
            <safe:instrument>
              <safe:familyName abbreviation="SAR">Synthetic Aperture Radar</safe:familyName>
              <safe:extension>
                <s1sarl1:instrumentMode>
                  <s1sarl1:mode>{meta.mode}</s1sarl1:mode>
                </s1sarl1:instrumentMode>
              </safe:extension>
            </safe:instrument>
          </safe:platform>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="measurementOrbitReference" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Orbit Reference">
        <xmlData>
          <safe:orbitReference>
            <safe:orbitNumber type="start">{meta.orbit}</safe:orbitNumber>
            <safe:orbitNumber type="stop">{meta.orbit}</safe:orbitNumber>
            <safe:relativeOrbitNumber type="start">{meta.relative_orbit}</safe:relativeOrbitNumber>
            <safe:relativeOrbitNumber type="stop">{meta.relative_orbit}</safe:relativeOrbitNumber>
            <safe:cycleNumber>{meta.cycle}</safe:cycleNumber>
            <safe:phaseIdentifier>1</safe:phaseIdentifier>
            <safe:extension>
              <s1:orbitProperties>
                <s1:pass>{meta.direction}</s1:pass>
                <s1:ascendingNodeTime>{meta.anx:%Y-%m-%dT%H:%M:%S.%f}</s1:ascendingNodeTime>
              </s1:orbitProperties>
            </safe:extension>
          </safe:orbitReference>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="generalProductInformation" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" \
textInfo="General Product Information">
        <xmlData>
          <s1sarl1:standAloneProductInformation>
            <s1sarl1:missionDataTakeID>{meta.datatake}</s1sarl1:missionDataTakeID>
{pols}            <s1sarl1:productClass>S</s1sarl1:productClass>
            <s1sarl1:productComposition>Slice</s1sarl1:productComposition>
            <s1sarl1:productType>{meta.level}</s1sarl1:productType>
            <s1sarl1:productTimelinessCategory>{meta.timeliness}</s1sarl1:productTimelinessCategory>
            <s1sarl1:sliceProductFlag>true</s1sarl1:sliceProductFlag>
            <s1sarl1:sliceNumber>{meta.slice_number}</s1sarl1:sliceNumber>
            <s1sarl1:totalSlices>{meta.total_slices}</s1sarl1:totalSlices>
          </s1sarl1:standAloneProductInformation>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="acquisitionPeriod" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Acquisition Period">
        <xmlData>
          <safe:acquisitionPeriod>
            <safe:startTime>{meta.start:%Y-%m-%dT%H:%M:%S.%f}</safe:startTime>
            <safe:stopTime>{meta.stop:%Y-%m-%dT%H:%M:%S.%f}</safe:stopTime>
            <safe:extension>
              <s1:timeANX>
                <s1:startTimeANX>{start_anx:.6e}</s1:startTimeANX>
                <s1:stopTimeANX>{stop_anx:.6e}</s1:stopTimeANX>
              </s1:timeANX>
            </safe:extension>
          </safe:acquisitionPeriod>
        </xmlData>
      </metadataWrap>
    </metadataObject>
    <metadataObject ID="measurementFrameSet" classification="DESCRIPTION" category="DMD">
      <metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Frame Set">
        <xmlData>
          <safe:frameSet>
            <safe:frame>
              <safe:footPrint srsName="http://www.opengis.net/gml/srs/epsg.xml#4326">
                <gml:coordinates>{coords}</gml:coordinates>
              </safe:footPrint>
            </safe:frame>
          </safe:frameSet>
        </xmlData>
      </metadataWrap>
    </metadataObject>
{schemas}  </metadataSection>
"""


# --------------------------------------------------------------------------------------
# Sentinel-2 (L1C, L2A)
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class S2Meta:
    """What a Sentinel-2 SAFE needs: level, tile, datatake and processing identifiers."""

    name: str
    platform: str  # "2A"
    level: str  # "L1C" | "L2A"
    tile: str  # "32UMC"
    sensing: datetime
    processed: datetime
    orbit: int
    relative_orbit: int
    baseline: str  # "05.11"
    footprint: tuple[tuple[float, float], ...]

    @property
    def datastrip(self) -> str:
        processed, sensing = f"{self.processed:%Y%m%dT%H%M%S}", f"{self.sensing:%Y%m%dT%H%M%S}"
        return f"DS_2{self.platform[-1]}PS_{processed}_S{sensing}"

    @property
    def granule(self) -> str:
        return f"{self.level}_T{self.tile}_A{self.orbit:06d}_{self.sensing:%Y%m%dT%H%M%S}"


_S2_L1C_BANDS = (
    ("B01", 1),
    ("B02", 10),
    ("B03", 10),
    ("B04", 10),
    ("B05", 3),
    ("B06", 3),
    ("B07", 3),
    ("B08", 10),
    ("B8A", 3),
    ("B09", 1),
    ("B10", 1),
    ("B11", 3),
    ("B12", 3),
    ("TCI", 8),
)
_S2_L2A_BANDS = (
    ("R10m", "B02", 10),
    ("R10m", "B03", 10),
    ("R10m", "B04", 10),
    ("R10m", "B08", 10),
    ("R10m", "AOT", 2),
    ("R10m", "WVP", 4),
    ("R10m", "TCI", 8),
    ("R20m", "B05", 3),
    ("R20m", "B06", 3),
    ("R20m", "B07", 3),
    ("R20m", "B8A", 3),
    ("R20m", "B11", 3),
    ("R20m", "B12", 3),
    ("R20m", "SCL", 1),
    ("R60m", "B01", 1),
    ("R60m", "B09", 1),
)


def s2_safe(meta: S2Meta, payload: int, key: bytes) -> Safe:
    """A Sentinel-2 SAFE; its manifest lists SHA3-256 checksums in upper-case hex."""
    lvl = meta.level[1:]  # "1C" | "2A"
    ds, gr = f"DATASTRIP/{meta.datastrip}", f"GRANULE/{meta.granule}"
    stamp = f"T{meta.tile}_{meta.sensing:%Y%m%dT%H%M%S}"
    specs: list[tuple[str, str, str, float]] = [
        (f"MTD_MSIL{lvl}.xml", "text/xml", f"S2_Level-{lvl}_Product_Metadata", 0.3),
        ("INSPIRE.xml", "text/xml", "INSPIRE_Metadata", 0.1),
        ("HTML/UserProduct_index.html", "octet", "HTML_Presentation", 0.05),
        ("HTML/UserProduct_index.xsl", "octet", "HTML_Presentation_Stylesheet", 0.05),
        (f"{ds}/MTD_DS.xml", "application/xml", f"S2_Level-{lvl}_Datastrip1_Metadata", 1.0),
    ]
    for qi in ("FORMAT_CORRECTNESS", "GENERAL_QUALITY", "GEOMETRIC_QUALITY"):
        oid = f"{qi.split('_')[0].capitalize()}_OLQC_Report_Datastrip1_InformationData"
        specs.append((f"{ds}/QI_DATA/{qi}.xml", "application/xml", oid, 0.05))
    specs += [
        (f"{gr}/AUX_DATA/AUX_CAMSFO", "application/octet-stream", "CAMS_Tile1_Data", 0.05),
        (f"{gr}/AUX_DATA/AUX_ECMWFT", "application/octet-stream", "ECMWF_Tile1_Data", 0.05),
        (f"{gr}/MTD_TL.xml", "text/xml", f"S2_Level-{lvl}_Tile1_Metadata", 0.2),
    ]
    if meta.level == "L1C":
        for band, weight in _S2_L1C_BANDS:
            oid = f"IMG_DATA_Band_{band}_Tile1_Data"
            path = f"{gr}/IMG_DATA/{stamp}_{band}.jp2"
            specs.append((path, "application/octet-stream", oid, weight))
        specs.append(
            (f"{gr}/QI_DATA/MSK_CLASSI_B00.jp2", "application/octet-stream", "Mask_Tile1", 0.2)
        )
    else:
        for res, band, weight in _S2_L2A_BANDS:
            oid = f"IMG_DATA_Band_{band}_{res[1:]}_Tile1_Data"
            path = f"{gr}/IMG_DATA/{res}/{stamp}_{band}_{res[1:]}.jp2"
            specs.append((path, "application/octet-stream", oid, weight))
        specs.append(
            (f"{gr}/QI_DATA/MSK_CLDPRB_20m.jp2", "application/octet-stream", "Mask_Tile1", 0.3)
        )
    xsd = f"rep_info/S2_User_Product_Level-{lvl}_Metadata.xsd"
    sizes = distribute(payload, [w for *_, w in specs] + [0.02])
    members = [
        Member(path, size, mime, oid)
        for (path, mime, oid, _), size in zip(specs, sizes[:-1], strict=True)
    ]
    members.append(Member(xsd, sizes[-1], "text/xml", listed=False))
    return Safe(
        meta.name,
        key,
        "manifest.safe",
        "SHA3-256",
        "s2",
        _s2_head(meta, members),
        tuple(members),
        meta.processed,
    )


def _s2_head(meta: S2Meta, members: list[Member]) -> str:
    lvl = meta.level[1:]
    units = "".join(
        f'            <xfdu:contentUnit ID="{m.object_id}_Unit" unitType="Data Unit">\n'
        f'                <dataObjectPointer dataObjectID="{m.object_id}"/>\n'
        "            </xfdu:contentUnit>\n"
        for m in members
        if m.listed
    )
    coords = " ".join(f"{lat} {lon}" for lon, lat in meta.footprint)
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<xfdu:XFDU xmlns:gml="http://www.opengis.net/gml" \
xmlns:safe="http://www.esa.int/safe/sentinel/1.1" \
xmlns:xfdu="urn:ccsds:schema:xfdu:1" \
version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l{lvl.lower()}_user_product">
    <informationPackageMap>
        <xfdu:contentUnit dmdID="acquisitionPeriod platform" pdiID="processing" \
textInfo="SENTINEL-2 MSI Level-{lvl} User Product" unitType="Product_Level-{lvl}">
{units}        </xfdu:contentUnit>
    </informationPackageMap>
    <metadataSection>
        <metadataObject ID="acquisitionPeriod" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Acquisition Period" \
vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:acquisitionPeriod>
                        <safe:startTime>{meta.sensing:%Y-%m-%dT%H:%M:%S.%f}</safe:startTime>
                    </safe:acquisitionPeriod>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="measurementOrbitReference" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Orbit Reference" \
vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:orbitReference>
                        <safe:orbitNumber groundTrackDirection="descending" \
type="start">{meta.orbit:06d}</safe:orbitNumber>
                        <safe:relativeOrbitNumber type="start">{meta.relative_orbit:03d}\
</safe:relativeOrbitNumber>
                    </safe:orbitReference>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="platform" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Platform Description" \
vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:platform>
                        <safe:familyName>SENTINEL</safe:familyName>
                        <safe:number>{meta.platform}</safe:number>
                        <safe:instrument>
                            <safe:familyName abbreviation="MSI">Multi-Spectral Instrument\
</safe:familyName>
                        </safe:instrument>
                    </safe:platform>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="processing" category="PDI" classification="PROVENANCE">
            <metadataWrap mimeType="text/xml" textInfo="Processing" vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:processing name="Generation of Level-{lvl} User Product" \
start="{meta.processed:%Y-%m-%dT%H:%M:%S.%f}Z"/>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="measurementFrameSet" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Frame Set" vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:frameSet>
                        <safe:footPrint srsName="http://www.opengis.net/gml/srs/epsg.xml#4326">
                            <gml:coordinates>{coords}</gml:coordinates>
                        </safe:footPrint>
                    </safe:frameSet>
                </xmlData>
            </metadataWrap>
        </metadataObject>
    </metadataSection>
"""


# --------------------------------------------------------------------------------------
# Sentinel-3 (OLCI EFR, SLSTR LST)
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class S3Meta:
    """What a Sentinel-3 SEN3 folder needs."""

    name: str
    platform: str  # "A"
    product_type: str  # "OL_1_EFR___" | "SL_2_LST___"
    start: datetime
    stop: datetime
    processed: datetime
    orbit: int
    relative_orbit: int
    cycle: int
    footprint: tuple[tuple[float, float], ...]


_S3_FILES = {
    "OL_1_EFR___": [
        *(
            (f"Oa{i:02d}_radiance.nc", f"Radiance for OLCI acquisition band Oa{i:02d}", 10.0)
            for i in range(1, 22)
        ),
        ("geo_coordinates.nc", "Geo Coordinates Annotations", 6.0),
        ("instrument_data.nc", "Instrument Annotation", 2.0),
        ("qualityFlags.nc", "Quality Flags", 2.0),
        ("removed_pixels.nc", "Removed Pixels Information", 1.0),
        ("tie_geo_coordinates.nc", "Tie-Point Geo Coordinate Annotations", 0.5),
        ("tie_geometries.nc", "Tie-Point Geometries Annotations", 0.5),
        ("tie_meteo.nc", "Tie-Point Meteo Annotations", 0.5),
        ("time_coordinates.nc", "Time Coordinates Annotations", 0.2),
    ],
    "SL_2_LST___": [
        ("LST_in.nc", "Land Surface Temperature", 10.0),
        ("LST_ancillary_ds.nc", "LST ancillary data", 4.0),
        ("cartesian_in.nc", "Cartesian coordinates, nadir view", 3.0),
        ("cartesian_tx.nc", "Cartesian coordinates, tie points", 0.5),
        ("flags_in.nc", "Flags, nadir view", 2.0),
        ("geodetic_in.nc", "Geodetic coordinates, nadir view", 4.0),
        ("geodetic_tx.nc", "Geodetic coordinates, tie points", 0.5),
        ("geometry_tn.nc", "Solar and satellite geometry, tie points", 0.5),
        ("indices_in.nc", "Scan, pixel and detector indices, nadir view", 2.0),
        ("met_tx.nc", "Meteorological data, tie points", 1.0),
        ("time_in.nc", "Time stamps, nadir view", 0.5),
    ],
}


def s3_safe(meta: S3Meta, payload: int, key: bytes) -> Safe:
    """A Sentinel-3 SEN3 folder; its ``xfdumanifest.xml`` lists MD5 checksums."""
    files = _S3_FILES[meta.product_type]
    sizes = distribute(payload, [w for *_, w in files])
    members = tuple(
        Member(name, size, "application/x-netcdf", name.split(".")[0] + "Data", text_info=info)
        for (name, info, _), size in zip(files, sizes, strict=True)
    )
    return Safe(
        meta.name,
        key,
        "xfdumanifest.xml",
        "MD5",
        "s3",
        _s3_head(meta, members),
        members,
        meta.processed,
    )


def _s3_head(meta: S3Meta, members: tuple[Member, ...]) -> str:
    olci = meta.product_type.startswith("OL")
    instrument = "olci" if olci else "slstr"
    full = "Ocean Land Colour Instrument" if olci else "Sea and Land Surface Temperature Radiometer"
    level = meta.product_type[3]
    units = "".join(
        f'            <xfdu:contentUnit ID="{m.object_id[:-4]}Unit" '
        'unitType="Measurement Data Unit" '
        f"textInfo={quoteattr(m.text_info)}>\n"
        f'               <dataObjectPointer dataObjectID="{m.object_id}"/>\n'
        "            </xfdu:contentUnit>\n"
        for m in members
    )
    pos = " ".join(f"{lat} {lon}" for lon, lat in meta.footprint)
    return f"""<?xml version ="1.0" encoding="UTF-8"?>
   <xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" \
xmlns:sentinel-safe="http://www.esa.int/safe/sentinel/1.1" xmlns:gml="http://www.opengis.net/gml" \
xmlns:sentinel3="http://www.esa.int/safe/sentinel/sentinel-3/1.0" \
xmlns:{instrument}="http://www.esa.int/safe/sentinel/sentinel-3/{instrument}/1.0" \
version="esa/safe/sentinel/sentinel-3/{instrument}/level-{level}/1.0">
      <informationPackageMap>
         <xfdu:contentUnit ID="packageUnit" unitType="Information Package" \
textInfo="SENTINEL-3 {instrument.upper()} Level {level} Product" \
dmdID="acquisitionPeriod platform measurementOrbitReference measurementFrameSet \
generalProductInformation" pdiID="processing">
{units}         </xfdu:contentUnit>
      </informationPackageMap>
      <metadataSection>
         <metadataObject ID="acquisitionPeriod" classification="DESCRIPTION" category="DMD">
            <metadataWrap mimeType="text/xml" vocabularyName="Sentinel-SAFE" \
textInfo="Acquisition Period">
               <xmlData>
                  <sentinel-safe:acquisitionPeriod>
                     <sentinel-safe:startTime>{meta.start:%Y-%m-%dT%H:%M:%S.%f}Z\
</sentinel-safe:startTime>
                     <sentinel-safe:stopTime>{meta.stop:%Y-%m-%dT%H:%M:%S.%f}Z\
</sentinel-safe:stopTime>
                  </sentinel-safe:acquisitionPeriod>
               </xmlData>
            </metadataWrap>
         </metadataObject>
         <metadataObject ID="platform" classification="DESCRIPTION" category="DMD">
            <metadataWrap mimeType="text/xml" vocabularyName="Sentinel-SAFE" \
textInfo="Platform Description">
               <xmlData>
                  <sentinel-safe:platform>
                     <sentinel-safe:familyName>Sentinel-3</sentinel-safe:familyName>
                     <sentinel-safe:number>{meta.platform}</sentinel-safe:number>
                     <sentinel-safe:instrument>
                        <sentinel-safe:familyName abbreviation="{instrument.upper()}">{full}\
</sentinel-safe:familyName>
                     </sentinel-safe:instrument>
                  </sentinel-safe:platform>
               </xmlData>
            </metadataWrap>
         </metadataObject>
         <metadataObject ID="measurementFrameSet" classification="DESCRIPTION" category="DMD">
            <metadataWrap mimeType="text/xml" vocabularyName="Sentinel-SAFE" textInfo="Frame Set">
               <xmlData>
                  <sentinel-safe:frameSet>
                     <sentinel-safe:footPrint srsName="http://www.opengis.net/def/crs/EPSG/0/4326">
                        <gml:posList>{pos}</gml:posList>
                     </sentinel-safe:footPrint>
                  </sentinel-safe:frameSet>
               </xmlData>
            </metadataWrap>
         </metadataObject>
         <metadataObject ID="generalProductInformation" classification="DESCRIPTION" category="DMD">
            <metadataWrap mimeType="text/xml" vocabularyName="Sentinel-SAFE" \
textInfo="General Product Information">
               <xmlData>
                  <sentinel3:generalProductInformation>
                     <sentinel3:productName>{meta.name}</sentinel3:productName>
                     <sentinel3:productType>{meta.product_type}</sentinel3:productType>
                     <sentinel3:timeliness>NT</sentinel3:timeliness>
                     <sentinel3:creationTime>{meta.processed:%Y%m%dT%H%M%S}</sentinel3:creationTime>
                  </sentinel3:generalProductInformation>
               </xmlData>
            </metadataWrap>
         </metadataObject>
         <metadataObject ID="measurementOrbitReference" classification="DESCRIPTION" category="DMD">
            <metadataWrap mimeType="text/xml" vocabularyName="Sentinel-SAFE" \
textInfo="Orbit Reference">
               <xmlData>
                  <sentinel-safe:orbitReference>
                     <sentinel-safe:orbitNumber type="start" groundTrackDirection="descending">\
{meta.orbit}</sentinel-safe:orbitNumber>
                     <sentinel-safe:relativeOrbitNumber type="start" \
groundTrackDirection="descending">{meta.relative_orbit}</sentinel-safe:relativeOrbitNumber>
                     <sentinel-safe:cycleNumber>{meta.cycle}</sentinel-safe:cycleNumber>
                  </sentinel-safe:orbitReference>
               </xmlData>
            </metadataWrap>
         </metadataObject>
      </metadataSection>
"""
