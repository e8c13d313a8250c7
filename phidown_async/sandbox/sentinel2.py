"""Sentinel-2 in the sandbox catalogue: MSI Level-1C and Level-2A tiles.

Sensing times follow MSI's 10:30 local solar time, orbits each platform's 10-day,
143-orbit cycle, and processing baselines the dates they came into use.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from .orbits import coord
from .records import Record, product_dates, random_duration, random_uuid
from .safe_s2 import S2Meta
from .sites import Site

# Attributes of a Sentinel-2 product, in CDSE's order (values are built per product).
ATTRIBUTES_S2 = (
    ("origin", "String"),
    ("tileId", "String"),
    ("cloudCover", "Double"),
    ("datastripId", "String"),
    ("orbitNumber", "Integer"),
    ("processingDate", "DateTimeOffset"),
    ("productGroupId", "String"),
    ("operationalMode", "String"),
    ("processingLevel", "String"),
    ("processorVersion", "String"),
    ("platformShortName", "String"),
    ("instrumentShortName", "String"),
    ("relativeOrbitNumber", "Integer"),
    ("platformSerialIdentifier", "String"),
    ("productType", "String"),
    ("beginningDateTime", "DateTimeOffset"),
    ("endingDateTime", "DateTimeOffset"),
)


_S2_PLATFORMS = {  # platform: (reference absolute orbit, its time, its relative orbit)
    "2A": (47542, datetime(2024, 8, 2, 10, 20, 21, tzinfo=UTC), 65),
    "2B": (38769, datetime(2024, 8, 7, 10, 20, 21, tzinfo=UTC), 65),
}
_S2_PERIOD = 10 * 86400 / 143
_MGRS_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_MGRS_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


_S2_BASELINES = (
    (datetime(2023, 12, 6, tzinfo=UTC), "05.09"),
    (datetime(2024, 7, 23, tzinfo=UTC), "05.10"),
    (datetime.max.replace(tzinfo=UTC), "05.11"),
)


def _s2_baseline(when: datetime) -> str:
    """Sentinel-2 processing baseline in use at ``when``."""
    return next(version for until, version in _S2_BASELINES if when < until)


def _tile(site: Site, k: int) -> tuple[str, float, float]:
    """An MGRS-like tile id near ``site`` and its centre (k picks one of a few tiles)."""
    dlon, dlat = ((0.0, 0.0), (0.6, -0.3), (-0.5, 0.4))[k % 3]
    lon, lat = site.lon + dlon / math.cos(math.radians(site.lat)), site.lat + dlat
    zone = int((lon + 180) // 6) + 1
    band = _MGRS_BANDS[min(19, max(0, int((lat + 80) // 8)))]
    code = int(abs(lon * 97 + lat * 89)) + k
    square = _MGRS_LETTERS[code % 24] + _MGRS_LETTERS[(code // 24) % 20]
    return f"{zone:02d}{band}{square}", lon, lat


def s2_product(
    rng: random.Random, site: Site, level: str, day: datetime, tile_k: int, payload_for: Any
) -> Record:
    """The record of one tile on ``day``; ``payload_for(name)`` is its payload in bytes."""
    platform = rng.choice(("2A", "2B"))
    tile, lon, lat = _tile(site, tile_k)
    # MSI crosses the equator at 10:30 local solar time.
    sensing = day + timedelta(hours=(10.5 - lon / 15.0) % 24) + random_duration(rng, 120)
    sensing = sensing.replace(microsecond=sensing.microsecond // 1000 * 1000)
    ref_orbit, ref_time, ref_rel = _S2_PLATFORMS[platform]
    orbit = ref_orbit + math.floor((sensing - ref_time).total_seconds() / _S2_PERIOD)
    rel = (orbit - ref_orbit + ref_rel - 1) % 143 + 1
    baseline = _s2_baseline(sensing)
    processed = sensing + timedelta(hours=4) + random_duration(rng, 7200)
    processed = processed.replace(microsecond=0)
    product_type = "S2MSI1C" if level == "L1C" else "S2MSI2A"
    name = (
        f"S2{platform[-1]}_MSI{level}_{sensing:%Y%m%dT%H%M%S}_N{baseline.replace('.', '')}_"
        f"R{rel:03d}_T{tile}_{processed:%Y%m%dT%H%M%S}.SAFE"
    )
    half_lat = 0.494
    half_lon = 0.494 / math.cos(math.radians(lat))
    ring = (
        (coord(lon - half_lon), coord(lat + half_lat)),
        (coord(lon + half_lon), coord(lat + half_lat)),
        (coord(lon + half_lon), coord(lat - half_lat)),
        (coord(lon - half_lon), coord(lat - half_lat)),
        (coord(lon - half_lon), coord(lat + half_lat)),
    )
    origin = processed + timedelta(minutes=30) + random_duration(rng, 900)
    publication = origin + timedelta(minutes=9) + random_duration(rng, 300)
    modification = publication + timedelta(seconds=20) + random_duration(rng, 10)
    s3path = f"/eodata/Sentinel-2/MSI/{level}/{sensing:%Y/%m/%d}/{name}"
    nbase = f"N{baseline}"
    ds_id = (
        f"S2{platform[-1]}_OPER_MSI_{level}_DS_2{platform[-1]}PS_{processed:%Y%m%dT%H%M%S}_"
        f"S{sensing + timedelta(seconds=250):%Y%m%dT%H%M%S}_{nbase}"
    )
    values = (
        "ESA",
        tile,
        round(100.0 * rng.random() ** 1.6, 6),
        ds_id,
        orbit,
        processed,
        f"GS2{platform[-1]}_{sensing:%Y%m%dT%H%M%S}_{orbit:06d}_{nbase}",
        "INS-NOBS",
        product_type,
        baseline,
        "SENTINEL-2",
        "MSI",
        rel,
        platform[-1],
        product_type,
        sensing,
        sensing,
    )
    pid = random_uuid(rng)
    meta = S2Meta(name, platform, level, tile, sensing, processed, orbit, rel, baseline, ring)
    return Record(
        pid,
        name,
        "SENTINEL-2",
        product_dates(sensing, sensing, origin, publication, modification),
        ring,
        meta,
        payload_for(name),
        s3path=s3path,
        attribute_names=ATTRIBUTES_S2,
        attribute_values=values,
    )
