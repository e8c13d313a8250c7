"""What a user hands to a download, turned into catalogue records at their input positions.

All three downloads (HTTPS products, bursts, S3 products) take the same things: a search
DataFrame or GeoDataFrame, entity dicts, or strings (Ids or product names). `take_in` reads
them once, in one way:

- a dict is the item's catalogue record, as it is; one without an ``Id`` is looked up by its
  ``Name`` (except a burst, which only an Id names, and an S3 product whose ``S3Path`` is
  given);
- a string is an Id (always, for bursts), else a product Id or Name looked up in the catalogue;
- an item with neither Id nor Name, a blank string, or a reference the catalogue does not know
  is a failed result at its position, on every path alike;
- anything else is a usage error (`TypeError`), raised before any request.

Look-ups run concurrently within the session's connection budget (`catalogue.lookup`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalogue.lookup import find_products
from ..errors import NotFoundError
from ..session import Session
from .results import ItemResult

Kind = Literal["product", "burst", "s3"]

NO_ID_OR_NAME = "item has neither Id nor Name"
BLANK = "empty item"


@dataclass
class Intake:
    """Records to plan and items already failed, each with its position in the input."""

    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    rejected: list[tuple[int, ItemResult]] = field(default_factory=list)


def is_missing(value: Any) -> bool:
    """True for an absent value: None, NaN (a pandas cell) or a blank string."""
    # pandas turns absent cells into NaN (or None), and NaN is truthy: test for both.
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def to_records(items: Any) -> list[Any]:
    """The items one by one: a DataFrame's rows as dicts; a lone dict or string as a list."""
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # pandas or geopandas
        return list(items.to_dict("records"))
    if isinstance(items, str | Mapping):
        return [items]
    return list(items)


def _unusable(reason: str) -> ItemResult:
    """The failed result of an item that names nothing (no run would fetch it)."""
    return ItemResult("", "", "failed", reason=reason, permanent=True)


def _needs_lookup(record: Mapping[str, Any], kind: Kind) -> bool:
    if not is_missing(record.get("Id")) or kind == "burst":
        return False
    return not (kind == "s3" and not is_missing(record.get("S3Path")))


async def take_in(items: Any, kind: Kind, session: Session) -> Intake:
    """Sort ``items`` into records (looked up where needed) and rejected items.

    Args:
        items: a (Geo)DataFrame, entity dicts, or Id / name strings.
        kind: which download they are for.
        session: the run's session (look-ups use its catalogue and budget).

    Raises:
        TypeError: an item is neither a dict nor a string.
        AuthError: the catalogue refused the account.
    """
    intake = Intake()
    lookups: list[tuple[int, str]] = []
    for index, record in enumerate(to_records(items)):
        if isinstance(record, str):
            text = record.strip()
            if not text:
                intake.rejected.append((index, _unusable(BLANK)))
            elif kind == "burst":
                intake.records.append((index, {"Id": text}))
            else:
                lookups.append((index, text))
        elif isinstance(record, Mapping):
            if is_missing(record.get("Id")) and is_missing(record.get("Name")):
                intake.rejected.append((index, _unusable(NO_ID_OR_NAME)))
            elif _needs_lookup(record, kind):
                lookups.append((index, str(record["Name"]).strip()))
            else:
                intake.records.append((index, dict(record)))
        else:
            raise TypeError(
                f"cannot download {type(record).__name__!r} items; give dicts or strings"
            )
    found = await find_products(session, [ref for _, ref in lookups]) if lookups else []
    for (index, ref), outcome in zip(lookups, found, strict=True):
        if isinstance(outcome, dict):
            intake.records.append((index, outcome))
        else:
            # Not found is for good; a failed look-up may succeed next time.
            permanent = isinstance(outcome, NotFoundError)
            result = ItemResult(ref, ref, "failed", reason=str(outcome), permanent=permanent)
            intake.rejected.append((index, result))
    intake.records.sort(key=lambda pair: pair[0])
    return intake
