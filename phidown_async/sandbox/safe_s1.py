"""Sentinel-1 SAFE layouts: IW/EW SLC and GRD products, and burst extracts.

Measurement tiffs take most of a product's payload; annotation, calibration, noise and rfi
files one set per sub-swath and polarisation; previews and schemas a little each. The
manifest head is ``templates/s1_manifest_head.xml``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .safe import Member, Safe, distribute, template

# Filled by _s1_head with str.format, which reads the S1Meta's fields and their format
# specs straight from the template ({meta.processed:%Y-%m-%dT%H:%M:%S.%f}).
_HEAD = template("s1_manifest_head.xml")


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
    return _HEAD.format(
        meta=meta,
        level=level,
        mode=meta.mode.lower(),
        units="".join(units),
        pols=pols,
        coords=coords,
        schemas=schemas,
        start_anx=start_anx,
        stop_anx=stop_anx,
        number=number,
    )
