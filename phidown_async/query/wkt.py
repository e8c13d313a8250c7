"""Areas of interest in 2-D WKT: the geometry types accepted and their syntax (pure)."""

from __future__ import annotations

import re
from typing import Any

from ..errors import QueryError, QueryTypeError

__all__ = ["WKT_TYPES", "normalise_wkt"]

WKT_TYPES = ("POINT", "MULTIPOINT", "LINESTRING", "MULTILINESTRING", "POLYGON", "MULTIPOLYGON")


class _WktSyntaxError(Exception):
    """A WKT syntax problem; its text becomes the detail of phidown's message."""


_WKT_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_WKT_PAIR = re.compile(rf"\s*({_WKT_NUMBER})\s+({_WKT_NUMBER})\s*", re.ASCII)
_WKT_TYPE = re.compile(r"[A-Za-z]+")


def _group(text: str) -> str:
    """Inside of one balanced ``( ... )`` spanning all of ``text``."""
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise _WktSyntaxError("missing outer parentheses")
    depth = 0
    last = len(text) - 1
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise _WktSyntaxError("unbalanced parentheses")
            if depth == 0 and index != last:
                raise _WktSyntaxError("unexpected trailing geometry text")
    if depth:
        raise _WktSyntaxError("unbalanced parentheses")
    inner = text[1:-1].strip()
    if not inner:
        raise _WktSyntaxError("empty geometry body")
    return inner


def _components(text: str) -> list[str]:
    """``text`` split on the commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    begin = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise _WktSyntaxError("unbalanced parentheses")
        elif char == "," and depth == 0:
            parts.append(text[begin:index].strip())
            if not parts[-1]:
                raise _WktSyntaxError("empty geometry component")
            begin = index + 1
    if depth:
        raise _WktSyntaxError("unbalanced parentheses")
    parts.append(text[begin:].strip())
    if not parts[-1]:
        raise _WktSyntaxError("empty geometry component")
    return parts


def _pair(text: str) -> tuple[float, float]:
    match = _WKT_PAIR.fullmatch(text)
    if match is None:
        raise _WktSyntaxError(f"invalid coordinate pair: {text!r}")
    return float(match.group(1)), float(match.group(2))


def _sequence(text: str) -> list[tuple[float, float]]:
    return [_pair(part) for part in _components(text)]


def _check_point(body: str) -> None:
    _pair(_group(body))


def _check_linestring(body: str) -> None:
    _sequence(_group(body))


def _check_multipoint(body: str) -> None:
    # Both ``((x y), (x y))`` and the bare ``(x y, x y)`` forms are WKT.
    for part in _components(_group(body)):
        _pair(_group(part) if part.startswith("(") else part)


def _check_multilinestring(body: str) -> None:
    for part in _components(_group(body)):
        _sequence(_group(part))


def _check_polygon(body: str) -> None:
    for ring in _components(_group(body)):
        points = _sequence(_group(ring))
        if len(points) < 4:
            raise _WktSyntaxError("WKT polygon ring must have at least 4 coordinate pairs")
        if points[0] != points[-1]:
            raise _WktSyntaxError("WKT polygon ring must start and end with the same point")


def _check_multipolygon(body: str) -> None:
    for polygon in _components(_group(body)):
        _check_polygon(polygon)


_WKT_CHECKS = {
    "POINT": _check_point,
    "MULTIPOINT": _check_multipoint,
    "LINESTRING": _check_linestring,
    "MULTILINESTRING": _check_multilinestring,
    "POLYGON": _check_polygon,
    "MULTIPOLYGON": _check_multipolygon,
}


def normalise_wkt(aoi_wkt: Any) -> str:
    """Validate an AOI in 2-D WKT and return it with whitespace runs collapsed.

    Accepts POINT, MULTIPOINT, LINESTRING, MULTILINESTRING, POLYGON and MULTIPOLYGON (any
    letter case, ``EMPTY`` allowed); polygon rings need 4+ pairs and must be closed.

    Raises:
        QueryTypeError: ``aoi_wkt`` is not a string.
        QueryError: empty, unsupported type, or a syntax error (phidown's messages).
    """
    if not isinstance(aoi_wkt, str):
        raise QueryTypeError("The 'aoi_wkt' parameter must be a string")
    text = " ".join(aoi_wkt.split())
    if not text:
        raise QueryError("The 'aoi_wkt' parameter cannot be empty")
    try:
        match = _WKT_TYPE.match(text)
        if match is None:
            raise _WktSyntaxError("missing geometry type")
        kind = match.group().upper()
        body = text[match.end() :].strip()
        if not body:
            raise _WktSyntaxError("missing geometry body")
        if kind not in _WKT_CHECKS:
            raise QueryError(
                f"Unsupported AOI WKT geometry type '{kind}'. "
                f"Supported types: {', '.join(WKT_TYPES)}"
            )
        if body.upper() != "EMPTY":
            _WKT_CHECKS[kind](body)
    except _WktSyntaxError as exc:
        raise QueryError(f"The 'aoi_wkt' parameter must be valid WKT: {exc}") from None
    return text
