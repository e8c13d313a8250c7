"""Sentinel-1 in the sandbox catalogue: IW/EW SLC and GRD products, and IW SLC bursts.

A product is built from one pass (:class:`S1Pass`) on the orbit model of :mod:`.orbits`,
so its datatake, times from the ascending node and footprint agree with its orbit. SLC
products sit on the fixed ESA burst grid, and their bursts (every sub-swath, polarisation
and burst cycle) carry burst ids that repeat passes share.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from .orbits import (
    T_BEAM,
    T_ORBIT,
    T_PRE,
    Frame,
    frame_around,
    ground_heading,
    pass_geometry,
    s1_anx,
    s1_cycle,
    s1_datatake,
    s1_relative_orbit,
)
from .records import (
    OCTET,
    Record,
    compact,
    footprint_fields,
    product_dates,
    random_duration,
    random_uuid,
    ts,
)
from .safe_s1 import BurstMeta, S1Meta
from .sites import Site

_LINE_TIME = 0.002055556  # azimuth time interval of IW SLC lines
_ABS_BURST_OFFSET = 171  # aligns absolute burst ids with the documented example
_SWATHS = {  # sub-swath: (ANX time offset within a burst cycle, lines, samples)
    "IW1": (0.0, 1508, 22998),
    "IW2": (0.92, 1515, 25860),
    "IW3": (1.84, 1524, 25231),
}
_TIFF_HEADER = 108891
_S1_NEW_LAYOUT = datetime(2023, 2, 20, tzinfo=UTC)  # S3Path folders by product type since
_BURST_LAG = timedelta(microseconds=1137605)  # burst start after its azimuth time

# Attributes of a Sentinel-1 product, in CDSE's order (values are built per product).
ATTRIBUTES_S1 = (
    ("origin", "String"),
    ("datatakeID", "Integer"),
    ("timeliness", "String"),
    ("cycleNumber", "Integer"),
    ("orbitNumber", "Integer"),
    ("sliceNumber", "Integer"),
    ("totalSlices", "Integer"),
    ("productClass", "String"),
    ("processorName", "String"),
    ("orbitDirection", "String"),
    ("processingDate", "DateTimeOffset"),
    ("operationalMode", "String"),
    ("processingLevel", "String"),
    ("swathIdentifier", "String"),
    ("processingCenter", "String"),
    ("processorVersion", "String"),
    ("segmentStartTime", "DateTimeOffset"),
    ("sliceProductFlag", "Boolean"),
    ("platformShortName", "String"),
    ("productComposition", "String"),
    ("instrumentShortName", "String"),
    ("relativeOrbitNumber", "Integer"),
    ("polarisationChannels", "String"),
    ("platformSerialIdentifier", "String"),
    ("instrumentConfigurationID", "Integer"),
    ("startTimeFromAscendingNode", "Double"),
    ("completionTimeFromAscendingNode", "Double"),
    ("productType", "String"),
    ("beginningDateTime", "DateTimeOffset"),
    ("endingDateTime", "DateTimeOffset"),
)


def _day_folder(when: datetime) -> str:
    return f"{when.year:04d}/{when.month:02d}/{when.day:02d}"


@dataclass
class S1Pass:
    """One Sentinel-1 acquisition to turn into a product record."""

    site: Site
    site_index: int
    orbit: int
    ascending: bool
    mode: str  # IW | EW
    level: str  # SLC | GRD
    pols: tuple[str, ...]
    centre_lon: float
    along_shift_s: float  # slide along the track, seconds
    bursts: int  # bursts per sub-swath (SLC), else 0
    centre_anx: float | None = None  # seconds from the node; None derives it from the site


_IPF_VERSIONS = (
    (datetime(2023, 11, 1, tzinfo=UTC), "003.61"),
    (datetime(2024, 10, 1, tzinfo=UTC), "003.80"),
    (datetime.max.replace(tzinfo=UTC), "003.91"),
)


def _ipf(when: datetime) -> str:
    """Sentinel-1 IPF version in use at ``when``."""
    return next(version for until, version in _IPF_VERSIONS if when < until)


def s1_product(rng: random.Random, p: S1Pass, payload_for: Any) -> Record:
    """The product record of one pass; ``payload_for(name)`` is its payload in bytes."""
    ascending = p.ascending
    lat = p.site.lat
    if p.centre_anx is None:
        centre_anx = pass_geometry(lat, ascending)[0] + p.along_shift_s
    else:
        centre_anx = p.centre_anx
    anx = s1_anx(p.orbit)
    direction = "ASCENDING" if ascending else "DESCENDING"
    heading = ground_heading(lat, ascending)
    if p.level == "SLC":
        # Bursts sit on the fixed ESA burst grid, so repeat passes share burst ids.
        first = round((centre_anx - T_PRE) / T_BEAM - p.bursts / 2)
        t0 = T_PRE + first * T_BEAM - 0.5
        # Until the end of the last IW3 burst (its cycle offset, start lag and lines).
        t1 = T_PRE + (first + p.bursts) * T_BEAM + 3.6
        duration = t1 - t0
    else:
        duration = 25.0 if p.mode == "IW" else 60.0
        t0 = centre_anx - duration / 2 + rng.uniform(-0.4, 0.4)
    start = anx + timedelta(seconds=t0)
    stop = start + timedelta(seconds=duration)
    length = duration * 6.8
    width = 250.0 if p.mode == "IW" else 400.0
    # Centre of the imaged area: along-track shift moves it north/south with the time.
    centre_lat = lat + (p.along_shift_s * 6.8 / 111.32) * math.cos(math.radians(heading))
    frame = frame_around(p.centre_lon, centre_lat, heading, length, width)
    ring = frame.cell(0, 1, 0, 1)
    datatake = s1_datatake(p.orbit, p.site_index)
    pol_code = ("D" if len(p.pols) == 2 else "S") + (
        "V" if p.pols[0] == "VV" else "H"
    )  # 1SDV, 1SSH ...
    kind = {"SLC": "SLC_", "GRD": "GRDH" if p.mode == "IW" else "GRDM"}[p.level]
    product_type = f"{p.mode}_{kind}_1S" if p.level == "GRD" else f"{p.mode}_SLC__1S"
    name = (
        f"S1A_{p.mode}_{kind}_1S{pol_code}_{compact(start)}_{compact(stop)}_"
        f"{p.orbit:06d}_{datatake:06X}_{rng.getrandbits(16):04X}.SAFE"
    )
    timeliness = "NRT-3h" if rng.random() < 0.7 else "Fast-24h"
    processed = (
        stop + timedelta(minutes=40 if timeliness == "NRT-3h" else 600) + random_duration(rng, 900)
    )
    origin = processed + timedelta(minutes=15) + random_duration(rng, 600)
    publication = origin + timedelta(minutes=8) + random_duration(rng, 600)
    modification = publication + timedelta(seconds=10) + random_duration(rng, 20)
    folder = product_type
    if start < _S1_NEW_LAYOUT:
        folder = p.level  # CDSE layout before 2023-02-20: SLC/GRD folders
    s3path = f"/eodata/Sentinel-1/SAR/{folder}/{_day_folder(start)}/{name}"
    slice_number = 1 + int((centre_anx % 1400) // 25) % 20
    segment = start - timedelta(seconds=25.0 * (slice_number - 1)) - random_duration(rng, 2)
    swath_id = "IW1,IW2,IW3" if p.level == "SLC" else p.mode
    cycle = s1_cycle(p.orbit)
    relative = s1_relative_orbit(p.orbit)
    ipf = _ipf(start)
    total_slices = slice_number + rng.randrange(0, 12)
    values = (
        "ESA",
        datatake,
        timeliness,
        cycle,
        p.orbit,
        slice_number,
        total_slices,
        "S",
        "Sentinel-1 IPF",
        direction,
        processed,
        p.mode,
        "LEVEL1",
        swath_id,
        "S1 Production Service-SERCO",
        ipf,
        segment,
        True,
        "SENTINEL-1",
        "Slice",
        "SAR",
        relative,
        "&".join(p.pols),
        "A",
        7,
        float(round(t0 * 1000.0)),
        float(round((t0 + duration) * 1000.0)),
        product_type,
        start,
        stop,
    )
    pid = random_uuid(rng)
    meta = S1Meta(
        name=name,
        mission="S1A",
        mode=p.mode,
        level=p.level,
        pols=p.pols,
        start=start,
        stop=stop,
        orbit=p.orbit,
        relative_orbit=relative,
        cycle=cycle,
        direction=direction,
        anx=anx,
        datatake=datatake,
        timeliness=timeliness,
        slice_number=slice_number,
        total_slices=total_slices,
        processed=processed,
        ipf=ipf,
        footprint=ring,
    )
    record = Record(
        pid,
        name,
        "SENTINEL-1",
        product_dates(start, stop, origin, publication, modification),
        ring,
        S1Recipe(meta, frame, first if p.level == "SLC" else 0, p.bursts),
        payload_for(name),
        s3path=s3path,
        attribute_names=ATTRIBUTES_S1,
        attribute_values=values,
    )
    return record


@dataclass(frozen=True)
class S1Recipe:
    """What a Sentinel-1 product's SAFE and bursts are built from."""

    meta: S1Meta
    frame: Frame
    first_cycle: int  # burst-grid index of the first burst cycle (SLC)
    bursts: int  # bursts per sub-swath (SLC)


class BurstRecipe(NamedTuple):
    """What a burst extract is built from (a BurstMeta is made only when bytes are needed)."""

    parent: S1Meta
    stem: str
    swath: str
    pol: str
    start: datetime
    end: datetime
    ring: tuple[tuple[float, float], ...]

    def meta(self) -> BurstMeta:
        return BurstMeta(
            self.parent, self.stem, self.swath, self.pol, self.start, self.end, self.ring
        )


def bursts_of(rng: random.Random, parent: Record, limit: int | None = None) -> list[Record]:
    """The bursts of one IW SLC product: every sub-swath x polarisation x burst."""
    recipe: S1Recipe = parent.recipe
    meta = recipe.meta
    rel, n = meta.relative_orbit, recipe.bursts
    mission, platform, datatake = meta.mission, meta.mission[-1], meta.datatake
    folder = parent.s3path + "/measurement/"
    records: list[Record] = []
    for pol in meta.pols:
        for s_index, swath in enumerate(("IW1", "IW2", "IW3")):
            offset, lines, samples = _SWATHS[swath]
            s3path = f"{folder}{meta.file_stem(swath.lower(), pol)}.tiff"
            burst_bytes = lines * samples * 4
            duration = timedelta(seconds=lines * _LINE_TIME)
            for j in range(n):
                if limit is not None and len(records) >= limit:
                    return records
                anx_time = T_PRE + (recipe.first_cycle + j) * T_BEAM + offset + 0.013
                # Burst ids count burst cycles on a fixed grid from each ascending node.
                mid = anx_time + lines * _LINE_TIME / 2 - T_PRE
                burst_id = 1 + math.floor(((rel - 1) * T_ORBIT + mid) / T_BEAM)
                absolute = math.floor(((meta.orbit - 1) * T_ORBIT + mid) / T_BEAM)
                absolute += 1 + _ABS_BURST_OFFSET
                azimuth = meta.anx + timedelta(seconds=anx_time)
                start = azimuth + _BURST_LAG
                end = start + duration
                ring = recipe.frame.cell(j / n, (j + 1) / n, s_index / 3, (s_index + 1) / 3)
                footprint, geo = footprint_fields(ring)
                stamp = compact(start)
                begin, finish = ts(start), ts(end)
                entity = {
                    "@odata.mediaContentType": OCTET,
                    "Id": random_uuid(rng),
                    "Name": f"{mission}-SLC-{stamp}-{burst_id}-{swath}-{pol}-{datatake:06d}",
                    "ContentType": OCTET,
                    "S3Path": s3path,
                    "ContentDate": {"Start": begin, "End": finish},
                    "Footprint": footprint,
                    "GeoFootprint": geo,
                    "ParentProductId": parent.id,
                    "ParentProductName": parent.name,
                    "ByteOffset": _TIFF_HEADER + j * burst_bytes,
                    "BurstId": burst_id,
                    "AbsoluteBurstId": absolute,
                    "AzimuthTime": ts(azimuth),
                    "AzimuthAnxTime": round(anx_time, 9),
                    "ParentProductType": "IW_SLC__1S",
                    "SwathIdentifier": swath,
                    "RelativeOrbitNumber": rel,
                    "OrbitDirection": meta.direction,
                    "PlatformSerialIdentifier": platform,
                    "PolarisationChannels": pol,
                    "OperationalMode": "IW",
                    "DatatakeID": datatake,
                    "Lines": lines,
                    "LinesPerBurst": lines,
                    "SamplesPerBurst": samples,
                    "BeginningDateTime": begin,
                    "EndingDateTime": finish,
                }
                dates = {
                    "ContentDate/Start": start,
                    "ContentDate/End": end,
                    "BeginningDateTime": start,
                    "EndingDateTime": end,
                    "AzimuthTime": azimuth,
                }
                stem = f"{mission}_SLC_{stamp}_{burst_id}_{swath}_{pol}_{datatake}"
                burst = BurstRecipe(meta, stem, swath, pol, start, end, ring)
                records.append(
                    Record(
                        entity["Id"],
                        entity["Name"],
                        "SENTINEL-1",
                        dates,
                        ring,
                        burst,
                        0,
                        s3path=s3path,
                        entity=entity,
                    )
                )
    return records
