"""Where Sentinel-1 flies and what it images: the orbit model and footprint frames.

A simple sun-synchronous orbit (S1A: 175 orbits in a 12-day repeat cycle), so orbit
numbers, relative orbits, times from the ascending node and pass times agree with each
other the way CDSE's do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .sites import Site

# Sentinel-1 orbit model (S1A): 175 orbits in a 12-day repeat cycle.
T_ORBIT = 12 * 86400 / 175
T_BEAM = 2.758277  # seconds between bursts of one sub-swath (ESA burst-id definition)
T_PRE = 2.299849
_INCLINATION = math.radians(98.18)
_S1_REF_ORBIT = 55030
_S1_REF_ANX = datetime(2024, 8, 2, 5, 32, 1, 405235, tzinfo=UTC)


def coord(x: float) -> float:
    """A footprint coordinate rounded to 6 decimals."""
    return round(x, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True)
class Frame:
    """A footprint parallelogram: ``point(u, v) = origin + u * along + v * across``.

    ``u`` runs along the track (0 = first line), ``v`` across it (0 = near range).
    """

    origin: tuple[float, float]
    along: tuple[float, float]
    across: tuple[float, float]

    def point(self, u: float, v: float) -> tuple[float, float]:
        return (
            coord(self.origin[0] + u * self.along[0] + v * self.across[0]),
            coord(self.origin[1] + u * self.along[1] + v * self.across[1]),
        )

    def cell(self, u0: float, u1: float, v0: float, v1: float) -> tuple[tuple[float, float], ...]:
        """Closed ring of the sub-parallelogram ``[u0, u1] x [v0, v1]``."""
        first = self.point(u0, v0)
        return (first, self.point(u0, v1), self.point(u1, v1), self.point(u1, v0), first)


def frame_around(
    lon: float, lat: float, heading: float, length_km: float, width_km: float
) -> Frame:
    """A parallelogram centred on ``(lon, lat)``; ``heading`` in degrees from north."""
    km_lat = 111.32
    km_lon = 111.32 * math.cos(math.radians(lat))
    h = math.radians(heading)
    along = (length_km * math.sin(h) / km_lon, length_km * math.cos(h) / km_lat)
    # Sentinel-1 looks right of its track: near range -> far range points to the right.
    across = (width_km * math.cos(h) / km_lon, -width_km * math.sin(h) / km_lat)
    origin = (lon - along[0] / 2 - across[0] / 2, lat - along[1] / 2 - across[1] / 2)
    return Frame(origin, along, across)


def ground_heading(lat: float, ascending: bool) -> float:
    ratio = max(-1.0, min(1.0, math.cos(_INCLINATION) / math.cos(math.radians(lat))))
    psi = math.degrees(math.asin(ratio)) - 3.0 * math.cos(math.radians(lat))
    return psi if ascending else 180.0 - psi


def pass_geometry(lat: float, ascending: bool) -> tuple[float, float]:
    """Seconds from the ascending node to latitude ``lat``, and the inertial longitude shift."""
    a = math.degrees(
        math.asin(max(-1.0, min(1.0, math.sin(math.radians(lat)) / math.sin(_INCLINATION))))
    )
    u = (a % 360.0) if ascending else 180.0 - a
    seconds = u / 360.0 * T_ORBIT
    ur = math.radians(u)
    shift = math.degrees(math.atan2(math.cos(_INCLINATION) * math.sin(ur), math.cos(ur)))
    return seconds, shift


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def s1_relative_orbit(orbit: int) -> int:
    """Relative orbit (1-175) of a Sentinel-1A absolute orbit."""
    return (orbit - 73) % 175 + 1


def s1_cycle(orbit: int) -> int:
    return (orbit - 73) // 175 + 15


def s1_anx(orbit: int) -> datetime:
    """Ascending-node time of an absolute orbit."""
    return _S1_REF_ANX + timedelta(seconds=(orbit - _S1_REF_ORBIT) * T_ORBIT)


def s1_orbit_at(when: datetime) -> int:
    return _S1_REF_ORBIT + math.floor((when - _S1_REF_ANX).total_seconds() / T_ORBIT)


def _node_longitude(relative_orbit: int) -> float:
    """Longitude of the ascending node of a relative orbit (same for every repeat)."""
    seconds, shift = pass_geometry(51.0, False)
    ref = 1.5 - shift + 360.0 * seconds / 86400.0  # anchors orbit 55030 (R8) over Belgium
    return _wrap(ref - (relative_orbit - s1_relative_orbit(_S1_REF_ORBIT)) * 360 * T_ORBIT / 86400)


def _imaged_centre_lon(relative_orbit: int, lat: float, ascending: bool, offset_km: float) -> float:
    seconds, shift = pass_geometry(lat, ascending)
    track = _node_longitude(relative_orbit) + shift - 360.0 * seconds / 86400.0
    heading = math.radians(ground_heading(lat, ascending))
    return _wrap(track + offset_km * math.cos(heading) / (111.32 * math.cos(math.radians(lat))))


def s1_tracks(site: Site, ascending: bool, mode: str = "IW") -> list[tuple[int, float]]:
    """Relative orbits imaging ``site``, best first, with the longitude of their swath centre."""
    offset = 330.0 if mode == "IW" else 400.0
    ranked = sorted(
        (abs(_wrap(_imaged_centre_lon(r, site.lat, ascending, offset) - site.lon)), r)
        for r in range(1, 176)
    )
    return [(r, _imaged_centre_lon(r, site.lat, ascending, offset)) for _, r in ranked[:3]]


def s1_datatake(orbit: int, site_index: int) -> int:
    return 439374 + round((orbit - _S1_REF_ORBIT) * 9.96) + site_index % 7
