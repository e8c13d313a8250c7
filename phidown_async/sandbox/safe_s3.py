"""Sentinel-3 SEN3 layouts: OLCI EFR (Level 1) and SLSTR LST (Level 2) products.

NetCDF files only, listed with MD5 checksums in ``xfdumanifest.xml``, whose head is
``templates/s3_manifest_head.xml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import quoteattr

from .safe import Member, Safe, distribute, template

# Filled by _s3_head with str.format, which reads the S3Meta's fields and their format
# specs straight from the template ({meta.processed:%Y-%m-%dT%H:%M:%S.%f}).
_HEAD = template("s3_manifest_head.xml")


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
    return _HEAD.format(
        meta=meta,
        instrument=instrument,
        acronym=instrument.upper(),
        full=full,
        level=level,
        units=units,
        pos=pos,
    )
