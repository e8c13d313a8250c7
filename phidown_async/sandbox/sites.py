"""Places the sandbox archive has acquisitions over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Site:
    """A place the archive has acquisitions over."""

    name: str
    lon: float
    lat: float
    continent: str


SITES = (
    Site("Po Valley", 11.0, 45.5, "Europe"),
    Site("Rome", 12.5, 41.9, "Europe"),
    Site("Rhine Delta", 4.9, 52.0, "Europe"),
    Site("Nairobi", 36.8, -1.3, "Africa"),
    Site("Nile Delta", 31.0, 30.8, "Africa"),
    Site("Manaus", -60.0, -3.1, "South America"),
    Site("Santiago", -70.6, -33.4, "South America"),
    Site("Tokyo", 139.7, 35.7, "Asia"),
    Site("Ganges Delta", 89.5, 23.0, "Asia"),
    Site("San Francisco Bay", -122.2, 37.7, "North America"),
    Site("Mexico City", -99.1, 19.4, "North America"),
    Site("Sydney", 151.0, -33.8, "Australia"),
)
POLAR_SITES = (
    Site("Svalbard", 16.0, 78.5, "Arctic"),
    Site("East Greenland", -30.0, 68.0, "Arctic"),
    Site("Weddell Sea", -50.0, -70.0, "Antarctica"),
)
BULK_SITE = Site("Brussels", 4.4, 50.8, "Europe")
BULK_MONTH = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
