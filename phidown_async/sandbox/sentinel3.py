"""Sentinel-3 in the sandbox catalogue: OLCI EFR (Level 1) and SLSTR LST (Level 2) frames.

Frames are taken around 10:00 local time on descending passes, with orbits, relative
orbits and cycles following each platform's 27-day, 385-orbit cycle.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from .orbits import frame_around, ground_heading
from .records import Record, product_dates, random_duration, random_uuid
from .safe_s3 import S3Meta
from .sites import Site

# Attributes of a Sentinel-3 product, in CDSE's order (values are built per product).
ATTRIBUTES_S3 = (
    ("origin", "String"),
    ("timeliness", "String"),
    ("cloudCover", "Double"),
    ("cycleNumber", "Integer"),
    ("orbitNumber", "Integer"),
    ("orbitDirection", "String"),
    ("processingDate", "DateTimeOffset"),
    ("processingLevel", "String"),
    ("baselineCollection", "String"),
    ("platformShortName", "String"),
    ("instrumentShortName", "String"),
    ("relativeOrbitNumber", "Integer"),
    ("platformSerialIdentifier", "String"),
    ("productType", "String"),
    ("beginningDateTime", "DateTimeOffset"),
    ("endingDateTime", "DateTimeOffset"),
)


_S3_PLATFORMS = {  # platform: (reference absolute orbit, its time, relative orbit, cycle)
    "A": (43700, datetime(2024, 8, 2, 9, 0, 0, tzinfo=UTC), 200, 115),
    "B": (32800, datetime(2024, 8, 2, 9, 50, 0, tzinfo=UTC), 12, 96),
}
_S3_PERIOD = 27 * 86400 / 385


def s3_product(
    rng: random.Random, site: Site, product_type: str, day: datetime, payload_for: Any
) -> Record:
    """The record of one frame on ``day``; ``payload_for(name)`` is its payload in bytes."""
    platform = rng.choice(("A", "B"))
    shift_lon = rng.uniform(-3.0, 3.0)
    lon, lat = site.lon + shift_lon, site.lat + rng.uniform(-2.0, 2.0)
    start = (
        day
        + timedelta(hours=(10.0 - lon / 15.0) % 24)
        - timedelta(seconds=90)
        + random_duration(rng, 60)
    )
    stop = start + timedelta(seconds=180)
    ref_orbit, ref_time, ref_rel, ref_cycle = _S3_PLATFORMS[platform]
    orbit = ref_orbit + math.floor((start - ref_time).total_seconds() / _S3_PERIOD)
    steps = orbit - ref_orbit + ref_rel - 1
    rel = steps % 385 + 1
    cycle = ref_cycle + steps // 385
    processed = (stop + timedelta(hours=20) + random_duration(rng, 7200)).replace(microsecond=0)
    baseline = "003" if product_type.startswith("OL") else "004"
    frame_no = int(1000 + 200 * ((lat + 90) / 18)) % 10000
    name = (
        f"S3{platform}_{product_type}_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
        f"{processed:%Y%m%dT%H%M%S}_0179_{cycle:03d}_{rel:03d}_{frame_no:04d}_PS"
        f"{1 if platform == 'A' else 2}_O_NT_{baseline}.SEN3"
    )
    heading = ground_heading(lat, False)
    width = 1270.0 if product_type.startswith("OL") else 1400.0
    frame = frame_around(lon, lat, heading, 1200.0, width)
    ring = frame.cell(0, 1, 0, 1)
    origin = processed + timedelta(minutes=25) + random_duration(rng, 600)
    publication = origin + timedelta(minutes=6) + random_duration(rng, 300)
    modification = publication + timedelta(seconds=12) + random_duration(rng, 10)
    olci = product_type.startswith("OL")
    folder = ("OLCI/" if olci else "SLSTR/") + product_type.rstrip("_")
    s3path = f"/eodata/Sentinel-3/{folder}/{start:%Y/%m/%d}/{name}"
    values = (
        "ESA",
        "NT",
        round(100.0 * rng.random(), 6),
        cycle,
        orbit,
        "DESCENDING",
        processed,
        product_type[3],
        baseline,
        "SENTINEL-3",
        "OLCI" if olci else "SLSTR",
        rel,
        platform,
        product_type,
        start,
        stop,
    )
    pid = random_uuid(rng)
    meta = S3Meta(name, platform, product_type, start, stop, processed, orbit, rel, cycle, ring)
    return Record(
        pid,
        name,
        "SENTINEL-3",
        product_dates(start, stop, origin, publication, modification),
        ring,
        meta,
        payload_for(name),
        s3path=s3path,
        attribute_names=ATTRIBUTES_S3,
        attribute_values=values,
    )
