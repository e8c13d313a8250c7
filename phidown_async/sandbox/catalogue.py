"""The sandbox's OData catalogue: ``Products``, ``Bursts``, single entities and ``Attributes``.

:func:`routes` returns Starlette routes under ``/odata/v1`` that answer like CDSE's
catalogue (cdse-api.md sections 1-3): ``$filter``, ``$orderby`` (with an ``Id``
tie-break), ``$top`` (default 20, at most 1000), ``$skip`` (at most 10000), ``$count``,
``$expand=Attributes`` and ``$select``; the envelope keys in CDSE's order; an absolute
``@odata.nextLink`` that keeps the request's parameters in order, form-encoded, with
``$skip`` replaced in place or appended; pydantic-shaped 422 bodies for bad paging
parameters and ``{"detail": "<message>"}`` 400s for filters the sandbox cannot evaluate.

Searching, sorting and checksum computation run in a worker thread so the event loop
keeps serving downloads meanwhile.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .archive import Archive
from .filter_syntax import FilterError
from .odata import (
    Field,
    Predicate,
    Schema,
    compile_filter,
    parse_orderby,
    sort_entities,
)
from .records import OCTET, Record
from .settings import SandboxConfig

PREFIX = "/odata/v1"
DEFAULT_TOP = 20
MAX_TOP = 1000
MAX_SKIP = 10000
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_CACHE_SIZE = 32


def _date(key: str) -> Field:
    return Field("datetime", lambda r: r.dates.get(key))


def _prop(key: str, kind: str) -> Field:
    return Field(kind, lambda r: r.entity.get(key))


PRODUCTS = Schema(
    name="Products",
    fields={
        "Id": Field("str", lambda r: r.id),
        "Name": Field("str", lambda r: r.name),
        "Collection/Name": Field("str", lambda r: r.collection),
        "ContentDate/Start": _date("ContentDate/Start"),
        "ContentDate/End": _date("ContentDate/End"),
        "OriginDate": _date("OriginDate"),
        "PublicationDate": _date("PublicationDate"),
        "ModificationDate": _date("ModificationDate"),
        # Read from the record, not the entity: entities are built only when served.
        "Online": Field("bool", lambda r: True),
        "S3Path": Field("str", lambda r: r.s3path),
        "ContentType": Field("str", lambda r: OCTET),
    },
    attributes=lambda r: r.attributes,
    bbox=lambda r: r.bbox,
    geometry=lambda r: r.geometry,
    orderable=("ContentDate/Start", "ContentDate/End", "PublicationDate", "ModificationDate"),
    key=lambda r: r.id,
)

_BURST_INTS = (
    "BurstId",
    "AbsoluteBurstId",
    "RelativeOrbitNumber",
    "DatatakeID",
    "ByteOffset",
    "Lines",
    "LinesPerBurst",
    "SamplesPerBurst",
)
_BURST_STRINGS = (
    "Name",
    "S3Path",
    "SwathIdentifier",
    "ParentProductName",
    "ParentProductType",
    "ParentProductId",
    "PolarisationChannels",
    "OperationalMode",
    "OrbitDirection",
    "PlatformSerialIdentifier",
)
BURSTS = Schema(
    name="Bursts",
    fields={
        "Id": Field("str", lambda r: r.id),
        "ContentDate/Start": _date("ContentDate/Start"),
        "ContentDate/End": _date("ContentDate/End"),
        "BeginningDateTime": _date("BeginningDateTime"),
        "EndingDateTime": _date("EndingDateTime"),
        "AzimuthTime": _date("AzimuthTime"),
        "AzimuthAnxTime": _prop("AzimuthAnxTime", "float"),
        **{name: _prop(name, "int") for name in _BURST_INTS},
        **{name: _prop(name, "str") for name in _BURST_STRINGS},
    },
    bbox=lambda r: r.bbox,
    geometry=lambda r: r.geometry,
    orderable=("ContentDate/Start", "ContentDate/End"),
    key=lambda r: r.id,
)

PRODUCT_SELECTABLE = (
    "Id",
    "Name",
    "ContentType",
    "ContentLength",
    "OriginDate",
    "PublicationDate",
    "ModificationDate",
    "Online",
    "EvictionDate",
    "S3Path",
    "Checksum",
    "ContentDate",
    "Footprint",
    "GeoFootprint",
)


class _Invalid(Exception):
    """A request the catalogue refuses; carries the HTTP status and JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _bad(message: str) -> _Invalid:
    return _Invalid(400, {"detail": message})


def _int_param(name: str, raw: str | None, default: int, limit: int, errors: list) -> int:
    """Parse ``$top``/``$skip`` the way CDSE's pydantic layer does, collecting 422 details."""
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        errors.append(
            {
                "type": "int_parsing",
                "loc": ["query", name],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": raw,
            }
        )
        return default
    value = int(raw)
    if value < 0:
        errors.append(
            {
                "type": "greater_than_equal",
                "loc": ["query", name],
                "msg": "Input should be greater than or equal to 0",
                "input": raw,
                "ctx": {"ge": 0},
            }
        )
    elif value > limit:
        errors.append(
            {
                "type": "less_than_equal",
                "loc": ["query", name],
                "msg": f"Input should be less than or equal to {limit}",
                "input": raw,
                "ctx": {"le": limit},
            }
        )
    return value


def _bool_param(name: str, raw: str | None, errors: list) -> bool:
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered not in _FALSE:
        errors.append(
            {
                "type": "bool_parsing",
                "loc": ["query", name],
                "msg": "Input should be a valid boolean, unable to interpret input",
                "input": raw,
            }
        )
    return False


class _Query:
    """The parsed query options of one collection request."""

    def __init__(self, request: Request, schema: Schema) -> None:
        # Order and repetitions matter for the nextLink, so keep the raw pairs.
        self.pairs = parse_qsl(request.url.query, keep_blank_values=True)
        last: dict[str, str] = {}
        expands: list[str] = []
        for key, value in self.pairs:
            last[key] = value
            if key == "$expand":
                expands += [v.strip() for v in value.split(",") if v.strip()]
        errors: list[dict[str, Any]] = []
        self.top = _int_param("$top", last.get("$top"), DEFAULT_TOP, MAX_TOP, errors)
        self.skip = _int_param("$skip", last.get("$skip"), 0, MAX_SKIP, errors)
        self.count = _bool_param("$count", last.get("$count"), errors)
        if errors:
            raise _Invalid(422, {"detail": errors})
        self.filter = last.get("$filter", "").strip()
        self.orderby = last.get("$orderby", "").strip()
        self.expand_attributes = _expand(schema, expands)
        self.select = _select(schema, last.get("$select"))


def _expand(schema: Schema, expands: list[str]) -> bool:
    """Whether ``Attributes`` are expanded.

    Bursts do not declare ``$expand``, and CDSE's service ignores undeclared query
    parameters, so it is ignored there (phidown sends it after a burst search).
    """
    if not expands or schema is BURSTS:
        return False
    unknown = [e for e in expands if e != "Attributes"]
    if unknown:
        raise _bad(f"$expand={unknown[0]} is not supported by the sandbox (only Attributes)")
    return True


def _select(schema: Schema, raw: str | None) -> frozenset[str] | None:
    """Fields named by ``$select`` (``Id`` always included), or None for all."""
    if raw is None or raw.strip() in ("", "*"):
        return None
    allowed = PRODUCT_SELECTABLE if schema is PRODUCTS else _BURST_SELECTABLE
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            raise _bad(f"Invalid field in $select: {name!r}; selectable: {', '.join(allowed)}")
    return frozenset({"Id", *names})


_BURST_SELECTABLE = (
    "Id",
    "Name",
    "ContentType",
    "S3Path",
    "ContentDate",
    "Footprint",
    "GeoFootprint",
    "ParentProductId",
    "ParentProductName",
    "ByteOffset",
    "BurstId",
    "AbsoluteBurstId",
    "AzimuthTime",
    "AzimuthAnxTime",
    "ParentProductType",
    "SwathIdentifier",
    "RelativeOrbitNumber",
    "OrbitDirection",
    "PlatformSerialIdentifier",
    "PolarisationChannels",
    "OperationalMode",
    "DatatakeID",
    "Lines",
    "LinesPerBurst",
    "SamplesPerBurst",
    "BeginningDateTime",
    "EndingDateTime",
)


def next_link(request: Request, pairs: list[tuple[str, str]], skip: int, top: int) -> str:
    """The ``@odata.nextLink`` of a page: same URL, ``$skip`` advanced by ``top``.

    Parameters keep their order and are form-encoded (``quote_plus``: space as ``+``,
    ``$`` as ``%24``); ``$skip`` is replaced where it was, or appended at the end.
    """
    new_skip = str(skip + top)
    out: list[tuple[str, str]] = []
    replaced = False
    for key, value in pairs:
        if key == "$skip":
            if not replaced:
                out.append((key, new_skip))
                replaced = True
        else:
            out.append((key, value))
    if not replaced:
        out.append(("$skip", new_skip))
    url = request.url
    return f"{url.scheme}://{url.netloc}{url.path}?{urlencode(out, quote_via=quote_plus)}"


class _Searcher:
    """Runs searches over one entity set, remembering recent result lists for paging."""

    def __init__(self, schema: Schema, records: list[Record]) -> None:
        self.schema = schema
        self.records = records
        self._lock = threading.Lock()
        self._filters: OrderedDict[str, Predicate] = OrderedDict()
        self._results: OrderedDict[tuple[str, str], list[Record]] = OrderedDict()

    def _remember(self, cache: OrderedDict, key: Any, value: Any) -> None:
        with self._lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)

    def _predicate(self, text: str) -> Predicate:
        with self._lock:
            found = self._filters.get(text)
        if found is None:
            found = compile_filter(text, self.schema)
            self._remember(self._filters, text, found)
        return found

    def search(self, text: str, orderby: str) -> list[Record]:
        """Every match of ``$filter`` in ``$orderby`` order (archive order without one).

        Raises:
            FilterError: the filter or ordering cannot be evaluated.
        """
        key = (text, orderby)
        with self._lock:
            found = self._results.get(key)
        if found is not None:
            return found
        keys = parse_orderby(orderby, self.schema) if orderby else []
        matches = self.records
        if text:
            predicate = self._predicate(text)
            matches = [r for r in self.records if predicate(r)]
        if keys:
            matches = sort_entities(matches, keys, self.schema)
        self._remember(self._results, key, matches)
        return matches


def _project(entity: dict[str, Any], select: frozenset[str] | None) -> dict[str, Any]:
    """The entity cut down to ``$select`` (media type and expansions always stay)."""
    if select is None:
        return entity
    keep = select | {"@odata.mediaContentType", "Attributes"}
    return {k: v for k, v in entity.items() if k in keep}


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def routes(archive: Archive, config: SandboxConfig, prefix: str = PREFIX) -> list[Route]:
    """The catalogue's routes, paths starting with ``prefix`` (``/odata/v1``).

    Args:
        archive: the data served.
        config: the sandbox settings (the catalogue reads none today; kept for symmetry
            with the other route builders).
        prefix: where the OData service lives.
    """
    del config  # latency, faults and counters are applied by the server around these routes
    searchers = {
        "Products": _Searcher(PRODUCTS, archive.product_records),
        "Bursts": _Searcher(BURSTS, archive.burst_records),
    }

    def page(request: Request, kind: str) -> tuple[int, Any]:
        searcher = searchers[kind]
        schema = searcher.schema
        try:
            query = _Query(request, schema)
            matches = searcher.search(query.filter, query.orderby)
        except FilterError as exc:
            return 400, {"detail": str(exc)}
        except _Invalid as exc:
            return exc.status, exc.body
        chunk = matches[query.skip : query.skip + query.top]
        if kind == "Products":
            context = "$metadata#Products"
            if query.expand_attributes:
                context = "$metadata#Products(Attributes())"
            values = _product_values(archive, chunk, query)
        else:
            context = "$metadata#Bursts"
            values = [_project(r.entity, query.select) for r in chunk]
        body: dict[str, Any] = {"@odata.context": context}
        if query.count:
            body["@odata.count"] = len(matches)
        body["value"] = values
        following = query.skip + query.top
        if query.top > 0 and following < len(matches) and following <= MAX_SKIP:
            body["@odata.nextLink"] = next_link(request, query.pairs, query.skip, query.top)
        return 200, body

    def entity(request: Request, kind: str, item_id: str) -> tuple[int, Any]:
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        expands = [v.strip() for k, value in pairs if k == "$expand" for v in value.split(",")]
        if kind == "Products":
            try:
                attributes = _expand(PRODUCTS, [e for e in expands if e])
            except _Invalid as exc:
                return exc.status, exc.body
            found = archive.product(item_id, attributes=attributes)
            context = "$metadata#Products/$entity"
            if attributes:
                context = "$metadata#Products(Attributes())/$entity"
        else:
            found = archive.burst(item_id)
            context = "$metadata#Bursts/$entity"
        if found is None:
            noun = "Product" if kind == "Products" else "Burst"
            return 404, {"detail": f"{noun} not found in catalogue"}
        return 200, {"@odata.context": context, **found}

    def collection_handler(kind: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> JSONResponse:
            status, body = await anyio.to_thread.run_sync(page, request, kind)
            return _json(body, status)

        return handler

    def entity_handler(kind: str, param: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> JSONResponse:
            item_id = request.path_params[param]
            status, body = await anyio.to_thread.run_sync(entity, request, kind, item_id)
            return _json(body, status)

        return handler

    async def attributes(request: Request) -> JSONResponse:
        collection = request.path_params["collection"].strip("'")
        table = archive.attribute_types(collection)
        if table is None:
            return _json({"detail": f"Collection {collection} not found"}, 404)
        return _json(table)

    return [
        Route(f"{prefix}/Products", collection_handler("Products"), methods=["GET"]),
        Route(f"{prefix}/Bursts", collection_handler("Bursts"), methods=["GET"]),
        Route(
            f"{prefix}/Products({{product_id}})",
            entity_handler("Products", "product_id"),
            methods=["GET"],
        ),
        Route(
            f"{prefix}/Bursts({{burst_id}})",
            entity_handler("Bursts", "burst_id"),
            methods=["GET"],
        ),
        Route(f"{prefix}/Attributes({{collection}})", attributes, methods=["GET"]),
    ]


def _product_values(archive: Archive, chunk: list[Record], query: _Query) -> list[dict[str, Any]]:
    select = query.select
    needs_digest = select is None or bool(select & {"ContentLength", "Checksum"})
    if not needs_digest:
        # $select without ContentLength/Checksum: no need to hash anything.
        return [
            _project(_with_attributes(archive, r, query.expand_attributes), select) for r in chunk
        ]
    digests = archive.digests(chunk)
    return [
        _project(archive.entity(r, digests[r.id], query.expand_attributes), select) for r in chunk
    ]


def _with_attributes(archive: Archive, record: Record, attributes: bool) -> dict[str, Any]:
    entity = dict(record.entity)
    if attributes:
        entity["Attributes"] = archive.attribute_list(record)
    return entity
