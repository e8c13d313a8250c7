"""Catalogue records: a product or burst with its entity and the typed values searches read.

Also CDSE's formats for entity fields (timestamps, footprints) and the random draws (UUIDs,
durations) the product builders share.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, overload

import numpy
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

EVICTION = "9999-12-31T23:59:59.999999Z"
OCTET = "application/octet-stream"


class Record:
    """One catalogue entry with the typed values filters and ordering read.

    Attributes:
        id, name, collection: identity (``collection`` is filterable, never returned).
        entity: public fields in CDSE order; for products without ``ContentLength``,
            ``Checksum`` and ``Attributes`` (added by :meth:`.archive.Archive.product`). Built on
            first use for products, so tens of thousands of entries stay cheap.
        s3path: the product's ``S3Path``.
        dates: typed datetimes by OData property path (``ContentDate/Start`` ...).
        attributes: typed attribute values by name (products only).
        attribute_names: ``(name, ValueType)`` pairs in CDSE order (shared per product type).
        attribute_values: the values, in the same order; DateTimeOffset values are
            datetimes, formatted when serialised.
        bbox: ``(minx, miny, maxx, maxy)`` of the footprint, or None.
        ring: the footprint ring as ``(lon, lat)`` pairs, or None.
    """

    __slots__ = (
        "_entity",
        "_geometry",
        "attribute_names",
        "attribute_values",
        "attributes",
        "bbox",
        "collection",
        "dates",
        "id",
        "name",
        "payload",
        "recipe",
        "ring",
        "s3path",
    )

    def __init__(
        self,
        item_id: str,
        name: str,
        collection: str,
        dates: dict[str, datetime],
        ring: tuple[tuple[float, float], ...] | None,
        recipe: Any,
        payload: int,
        *,
        s3path: str = "",
        entity: dict[str, Any] | None = None,
        attribute_names: tuple[tuple[str, str], ...] = (),
        attribute_values: tuple[Any, ...] = (),
    ) -> None:
        self.id = item_id
        self.name = name
        self.collection = collection
        self.dates = dates
        self.ring = ring
        self.recipe = recipe
        self.payload = payload
        self.s3path = s3path
        self._entity = entity
        self.attribute_names = attribute_names
        self.attribute_values = attribute_values
        self.attributes = dict(zip([n for n, _ in attribute_names], attribute_values, strict=True))
        if ring:
            xs, ys = zip(*ring, strict=True)
            self.bbox: tuple[float, float, float, float] | None = (
                min(xs),
                min(ys),
                max(xs),
                max(ys),
            )
        else:
            self.bbox = None
        self._geometry: BaseGeometry | None = None

    @property
    def entity(self) -> dict[str, Any]:
        if self._entity is None:
            self._entity = _product_entity(self)
        return self._entity

    @property
    def geometry(self) -> BaseGeometry | None:
        """The footprint as a shapely polygon (built on first use)."""
        if self._geometry is None and self.ring:
            self._geometry = Polygon(self.ring)
        return self._geometry


class Entities(Sequence[dict[str, Any]]):
    """A read-only list of the records' entities, each built when first read."""

    def __init__(self, records: list[Record]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [r.entity for r in self._records[index]]
        return self._records[index].entity


def build_geometries(records: list[Record]) -> None:
    """Give every record its shapely footprint at once (vectorised: 50,000 take ~0.1 s)."""
    by_length: dict[int, list[Record]] = {}
    for record in records:
        if record.ring:
            by_length.setdefault(len(record.ring), []).append(record)
    for group in by_length.values():
        shells = numpy.asarray([r.ring for r in group], dtype=float)
        for record, geometry in zip(group, shapely.polygons(shells), strict=True):
            record._geometry = geometry


def ts(when: datetime) -> str:
    """CDSE timestamp of an aware UTC datetime: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return when.isoformat(timespec="microseconds")[:-6] + "Z"


def compact(when: datetime) -> str:
    """``YYYYMMDDTHHMMSS`` (what strftime gives, several times faster)."""
    return (
        f"{when.year:04d}{when.month:02d}{when.day:02d}"
        f"T{when.hour:02d}{when.minute:02d}{when.second:02d}"
    )


def _wkt_num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def footprint_fields(ring: tuple[tuple[float, float], ...]) -> tuple[str, dict[str, Any]]:
    """``Footprint`` (geography literal) and ``GeoFootprint`` (GeoJSON) of one ring."""
    coords = ", ".join(f"{_wkt_num(x)} {_wkt_num(y)}" for x, y in ring)
    geo = {"type": "Polygon", "coordinates": [[[x, y] for x, y in ring]]}
    return f"geography'SRID=4326;POLYGON (({coords}))'", geo


def random_uuid(rng: random.Random) -> str:
    """A random (version 4) UUID string drawn from ``rng``."""
    h = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def random_duration(rng: random.Random, seconds: float) -> timedelta:
    """A random duration up to ``seconds``, with microsecond resolution."""
    return timedelta(microseconds=int(rng.random() * seconds * 1e6))


def _product_entity(record: Record) -> dict[str, Any]:
    dates = record.dates
    footprint, geo = footprint_fields(record.ring) if record.ring else (None, None)
    return {
        "@odata.mediaContentType": OCTET,
        "Id": record.id,
        "Name": record.name,
        "ContentType": OCTET,
        "OriginDate": ts(dates["OriginDate"]),
        "PublicationDate": ts(dates["PublicationDate"]),
        "ModificationDate": ts(dates["ModificationDate"]),
        "Online": True,
        "EvictionDate": EVICTION,
        "S3Path": record.s3path,
        "ContentDate": {
            "Start": ts(dates["ContentDate/Start"]),
            "End": ts(dates["ContentDate/End"]),
        },
        "Footprint": footprint,
        "GeoFootprint": geo,
    }


def product_dates(
    start: datetime, end: datetime, origin: datetime, publication: datetime, modification: datetime
) -> dict[str, datetime]:
    return {
        "ContentDate/Start": start,
        "ContentDate/End": end,
        "OriginDate": origin,
        "PublicationDate": publication,
        "ModificationDate": modification,
    }
