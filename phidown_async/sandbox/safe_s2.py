"""Sentinel-2 SAFE layouts: MSI Level-1C and Level-2A products.

Band images (JPEG 2000) take most of a product's payload, weighted by resolution; the
manifest lists SHA3-256 checksums in upper-case hex. Its head is
``templates/s2_manifest_head.xml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .safe import Member, Safe, distribute, template

# Filled by _s2_head with str.format, which reads the S2Meta's fields and their format
# specs straight from the template ({meta.processed:%Y-%m-%dT%H:%M:%S.%f}).
_HEAD = template("s2_manifest_head.xml")


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
    return _HEAD.format(meta=meta, lvl=lvl, level_code=lvl.lower(), units=units, coords=coords)
