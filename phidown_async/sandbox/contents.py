"""What the sandbox archive holds, drawn from ``config.seed`` alone.

A mix of product types (:data:`MIX`) over the sites of :mod:`.sites` in 2023-2025;
Sentinel-1 IW SLC products in stacks (same place, same relative orbit, every 12 days, both
directions) for orbit and burst planning; and, on request, bulk IW GRD products and bursts
packed into one month over one place, for searches with tens of thousands of matches.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from .orbits import s1_anx, s1_orbit_at, s1_relative_orbit, s1_tracks
from .records import Record
from .sentinel1 import S1Pass, bursts_of, s1_product
from .sentinel2 import s2_product
from .sentinel3 import s3_product
from .settings import SandboxConfig
from .sites import BULK_MONTH, BULK_SITE, POLAR_SITES, SITES

BULK_PAYLOAD = 2048  # bytes of data per bulk product: tens of thousands must stay cheap

# Share of each product type in ``config.products``.
MIX = (
    ("IW_SLC__1S", 0.30),
    ("IW_GRDH_1S", 0.20),
    ("EW_GRDM_1S", 0.05),
    ("S2MSI1C", 0.12),
    ("S2MSI2A", 0.18),
    ("OL_1_EFR___", 0.08),
    ("SL_2_LST___", 0.07),
)
_YEARS = (datetime(2023, 1, 2, tzinfo=UTC), datetime(2025, 12, 20, tzinfo=UTC))


def _counts(total: int) -> dict[str, int]:
    """Products per type: largest remainders, and at least one of each when total >= 7."""
    exact = {k: total * f for k, f in MIX}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True):
        if sum(counts.values()) >= total:
            break
        counts[k] += 1
    if total >= len(MIX):
        for k in counts:
            if counts[k] == 0:
                donor = max(counts, key=lambda d: counts[d])
                counts[donor] -= 1
                counts[k] += 1
    return counts


def _random_day(rng: random.Random, lo: datetime = _YEARS[0], hi: datetime = _YEARS[1]) -> datetime:
    days = (hi - lo).days
    return lo + timedelta(days=rng.randrange(max(1, days)))


def _payload(config: SandboxConfig, default: int) -> Any:
    sizes = config.sizes
    return lambda name: sizes.get(name, default)


def generate(config: SandboxConfig) -> tuple[list[Record], list[Record]]:
    """The product and burst records of the archive ``config`` describes, unsorted."""
    seed = config.seed
    counts = _counts(config.products)
    payload = _payload(config, config.product_size)
    products: list[Record] = []
    bursts: list[Record] = []
    burst_rng = random.Random(f"{seed}/bursts")

    slc = _slc_stacks(random.Random(f"{seed}/slc"), counts["IW_SLC__1S"], payload)
    for record in slc:
        bursts.extend(bursts_of(burst_rng, record))
    products += slc
    rng = random.Random(f"{seed}/grd")
    for mode, count in (("IW", counts["IW_GRDH_1S"]), ("EW", counts["EW_GRDM_1S"])):
        for _ in range(count):
            products.append(_single_s1(rng, mode, payload))
    rng = random.Random(f"{seed}/s2")
    for level, count in (("L1C", counts["S2MSI1C"]), ("L2A", counts["S2MSI2A"])):
        for _ in range(count):
            site = rng.choice(SITES)
            products.append(
                s2_product(rng, site, level, _random_day(rng), rng.randrange(3), payload)
            )
    rng = random.Random(f"{seed}/s3")
    for ptype in ("OL_1_EFR___", "SL_2_LST___"):
        for _ in range(counts[ptype]):
            site = rng.choice(SITES)
            products.append(s3_product(rng, site, ptype, _random_day(rng), payload))
    products += _bulk_grd(config, random.Random(f"{seed}/bulk"))
    parents, extra = _bulk_slc(config, random.Random(f"{seed}/bulk-bursts"))
    products += parents
    bursts += extra
    return products, bursts


def _slc_stacks(rng: random.Random, count: int, payload: Any) -> list[Record]:
    """IW SLC stacks: repeat passes over one site, one relative orbit, every 12 days."""
    records: list[Record] = []
    # The first two stacks cover the Po Valley in summer 2024 in both directions.
    plans: list[tuple[int, bool, int, datetime]] = [
        (0, True, 0, datetime(2024, 7, 3, tzinfo=UTC)),
        (0, False, 0, datetime(2024, 7, 5, tzinfo=UTC)),
    ]
    while len(records) < count:
        if plans:
            site_index, ascending, rank, first_day = plans.pop(0)
            passes = min(10, max(1, (count - len(records) + 1) // 2), count - len(records))
        else:
            site_index = rng.randrange(len(SITES))
            ascending = rng.random() < 0.5
            rank = 0 if rng.random() < 0.7 else 1
            passes = min(count - len(records), rng.randint(4, 10))
            first_day = _random_day(rng, _YEARS[0], _YEARS[1] - timedelta(days=12 * passes))
        site = SITES[site_index]
        relative, centre_lon = s1_tracks(site, ascending)[rank]
        orbit = s1_orbit_at(first_day)
        orbit += (relative - s1_relative_orbit(orbit)) % 175
        bursts = rng.randint(3, 9)
        pols = ("VV", "VH") if rng.random() < 0.9 else ("HH", "HV")
        for k in range(passes):
            step = S1Pass(
                site,
                site_index,
                orbit + 175 * k,
                ascending,
                "IW",
                "SLC",
                pols,
                centre_lon,
                0.0,
                bursts,
            )
            records.append(s1_product(rng, step, payload))
    return records


def _single_s1(rng: random.Random, mode: str, payload: Any) -> Record:
    if mode == "EW":
        site_index = rng.randrange(len(POLAR_SITES))
        site = POLAR_SITES[site_index]
        pols: tuple[str, ...] = ("HH", "HV") if rng.random() < 0.85 else ("HH",)
    else:
        site_index = rng.randrange(len(SITES))
        site = SITES[site_index]
        pols = ("VV", "VH") if rng.random() < 0.85 else ("VV",)
    ascending = rng.random() < 0.5
    relative, centre_lon = s1_tracks(site, ascending, mode)[rng.randrange(2)]
    orbit = s1_orbit_at(_random_day(rng))
    orbit += (relative - s1_relative_orbit(orbit)) % 175
    step = S1Pass(
        site,
        site_index,
        orbit,
        ascending,
        mode,
        "GRD",
        pols,
        centre_lon,
        rng.uniform(-10.0, 10.0),
        0,
    )
    return s1_product(rng, step, payload)


def _bulk_grd(config: SandboxConfig, rng: random.Random) -> list[Record]:
    """``bulk_products`` IW GRDH products over one small region in 2024-03."""
    count = config.bulk_products
    payload = _payload(config, BULK_PAYLOAD)
    return [_bulk_pass(rng, i, count, "GRD", 0, payload) for i in range(count)]


def _bulk_slc(config: SandboxConfig, rng: random.Random) -> tuple[list[Record], list[Record]]:
    """Bursts for ``bulk_bursts``, with the IW SLC parents they come from."""
    wanted = config.bulk_bursts
    per_parent = 9 * 3 * 2
    parents_needed = math.ceil(wanted / per_parent)
    payload = _payload(config, BULK_PAYLOAD)
    parents, bursts = [], []
    for i in range(parents_needed):
        parent = _bulk_pass(rng, i, parents_needed, "SLC", 9, payload)
        parents.append(parent)
        bursts.extend(bursts_of(rng, parent, wanted - len(bursts)))
    return parents, bursts


def _bulk_pass(
    rng: random.Random, i: int, count: int, level: str, bursts: int, payload: Any
) -> Record:
    lo, hi = BULK_MONTH
    # Evenly spread over the month (a minute of margin at both ends). So many passes
    # over one place cannot follow the orbit model: each takes the orbit flying at its
    # time, so orbit numbers and times from the node stay consistent, not geography.
    span = (hi - lo).total_seconds() - 120
    centre = lo + timedelta(seconds=60 + span * (i + 0.5) / max(count, 1))
    orbit = s1_orbit_at(centre)
    step = S1Pass(
        BULK_SITE,
        0,
        orbit,
        rng.random() < 0.5,
        "IW",
        level,
        ("VV", "VH"),
        BULK_SITE.lon + rng.uniform(-0.3, 0.3),
        0.0,
        bursts,
        (centre - s1_anx(orbit)).total_seconds(),
    )
    return s1_product(rng, step, payload)
