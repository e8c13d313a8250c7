"""Catalogue look-ups of single products by Id or by exact Name.

A download given bare Ids or names needs each product's entity (size, checksums, S3 path)
first. `find_products` asks for all of them concurrently, each request under the session's
connection budget; a reference the catalogue does not know is a reason, not an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ..concurrency import FirstErrorGroup
from ..errors import AuthError, NotFoundError, ServiceError
from ..query.odata import name_filter
from ..session import Session

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def is_product_id(text: str) -> bool:
    """True when ``text`` has the shape of a catalogue Id (a UUID)."""
    return bool(_UUID.match(text.strip()))


async def find_product(session: Session, ref: str) -> dict[str, Any]:
    """The catalogue entity of the product with Id (a UUID) or exact Name ``ref``.

    Raises:
        NotFoundError: the catalogue has no such product.
        ServiceError: the catalogue failed.
    """
    products = session.endpoints.products_url
    if is_product_id(ref):
        try:
            entity = await session.get_json(f"{products}({quote(ref.strip(), safe='-')})")
        except NotFoundError:
            entity = {}
        if not entity.get("Id"):
            raise NotFoundError(f"no product with Id {ref} in the catalogue")
        return entity
    page = await session.get_json(products, {"$filter": name_filter(ref), "$top": "1"})
    found = page.get("value") or []
    if not found or not isinstance(found[0], dict):
        raise NotFoundError(f"no product named {ref!r} in the catalogue{_suggestion(ref)}")
    return found[0]


def _suggestion(ref: str) -> str:
    """A hint for a Sentinel-1/2 name given without its ``.SAFE`` suffix."""
    name = ref.strip()
    if name.upper().startswith(("S1", "S2")) and "." not in name:
        return f"; did you mean {name + '.SAFE'!r}?"
    return ""


async def find_products(
    session: Session, refs: Sequence[str]
) -> list[dict[str, Any] | ServiceError]:
    """The entity of every reference, or why it could not be had, in ``refs`` order.

    A reference the catalogue does not know gives a `NotFoundError`; a look-up that failed
    otherwise a `ServiceError` whose message says so.

    At most as many look-ups run at once as the session has connections.

    Raises:
        AuthError: the account was refused (no look-up could succeed).
    """
    found: list[dict[str, Any] | ServiceError] = [{} for _ in refs]
    pending = iter(enumerate(refs))

    async def worker() -> None:
        # Workers share one iterator: a few tasks, however many references.
        for index, ref in pending:
            try:
                found[index] = await find_product(session, ref)
            except AuthError:
                raise
            except NotFoundError as exc:
                found[index] = exc
            except ServiceError as exc:
                found[index] = ServiceError(
                    f"catalogue look-up failed: {exc}", status=exc.status, url=exc.url
                )

    async with FirstErrorGroup() as group:
        for _ in range(min(len(refs), max(1, session.limits.connections))):
            group.start_soon(worker)
    return found
