"""OData ``$filter`` syntax for the sandbox catalogue: tokenizer, syntax tree and parser.

The grammar is the part of OData that CDSE documents and its clients send:

* comparisons ``eq ne lt le gt ge`` between a property and a literal (either side);
* ``and``, ``or``, ``not``, parentheses;
* ``contains``/``startswith``/``endswith(Name,'...')``;
* ``Attributes/OData.CSC.<T>Attribute/any(att:att/Name eq 'x' and att/OData.CSC.<T>Attribute/Value
  <op> <literal>)``, with any boolean expression inside (e.g. a parenthesised ``or`` of value
  comparisons);
* ``OData.CSC.Intersects(area=geography'SRID=4326;<WKT>')`` (shapely; POINT, LINESTRING,
  POLYGON, MULTI*; invalid geometries are rejected);
* literals: ``'strings'`` (``''`` escapes a quote), numbers, ``true``/``false``/``null``,
  unquoted UUIDs, dates (``2024-08-01``, ``2024-08-01T00:00:00``, any fraction, ``Z`` or
  ``+hh:mm``; no zone means UTC).

Anything outside the grammar raises :class:`FilterError` with a message fit for a 400 reply.
What a tree means is :mod:`.odata`'s business.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import shapely
from shapely import wkt as shapely_wkt
from shapely.errors import ShapelyError


class FilterError(ValueError):
    """A ``$filter`` or ``$orderby`` the sandbox cannot evaluate; the message says why."""


# --------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------

_DATE = (
    r"\d{4}-\d{2}-\d{2}"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"(?:Z|[+-]\d{2}:\d{2})?"
)
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<typed>[A-Za-z]+'(?:[^']|'')*')
  | (?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![\w.]))
  | (?P<date>"""
    + _DATE
    + r"""(?![\w.:]))
  | (?P<number>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<name>[A-Za-z_][\w.]*(?:/[A-Za-z_][\w.]*)*)
  | (?P<punct>[(),:=])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "true", "false", "null"}
COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
STRING_FUNCTIONS = {
    "contains": lambda value, arg: arg in value,
    "startswith": lambda value, arg: value.startswith(arg),
    "endswith": lambda value, arg: value.endswith(arg),
}


@dataclass(frozen=True)
class Token:
    kind: str  # string, typed, guid, date, number, name, keyword, punct, end
    text: str
    value: Any
    pos: int


def parse_datetime(text: str) -> datetime:
    """An OData date literal as an aware UTC datetime (no zone means UTC).

    Raises:
        FilterError: not a valid date or time.
    """
    match = re.fullmatch(
        r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
        r"(Z|[+-]\d{2}:\d{2})?",
        text,
    )
    if not match:
        raise FilterError(f"invalid date literal {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError as exc:
        raise FilterError(f"invalid date literal {text!r}: {exc}") from None
    return value.astimezone(UTC)


def _parse_geography(text: str, pos: int) -> Any:
    body = text[len("geography'") : -1].replace("''", "'")
    srid, sep, wkt_text = body.partition(";")
    if not sep or srid.replace(" ", "").upper() != "SRID=4326":
        raise FilterError(f"geography literal at {pos} must start with SRID=4326; got {body!r}")
    try:
        geometry = shapely_wkt.loads(wkt_text)
    except (ShapelyError, ValueError, TypeError) as exc:
        raise FilterError(f"invalid WKT in geography literal at {pos}: {exc}") from None
    if geometry.is_empty:
        raise FilterError(f"empty geometry in geography literal at {pos}")
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        raise FilterError(f"invalid geometry in geography literal at {pos}: {reason}")
    return geometry


def tokenize(text: str) -> list[Token]:
    """Split a filter into tokens.

    Raises:
        FilterError: a character sequence that is no OData token.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "ws":
            pass
        elif kind == "string":
            tokens.append(Token("string", raw, raw[1:-1].replace("''", "'"), pos))
        elif kind == "typed":
            prefix = raw.split("'", 1)[0]
            if prefix.lower() in _KEYWORDS:  # "eq'x'": an operator glued to a string
                tokens.append(Token("keyword", prefix, prefix.lower(), pos))
                literal = raw[len(prefix) + 1 : -1].replace("''", "'")
                tokens.append(Token("string", raw[len(prefix) :], literal, pos + len(prefix)))
            elif prefix.lower() != "geography":
                raise FilterError(
                    f"unsupported literal {prefix}'...' at position {pos}; use plain literals "
                    "(dates unquoted, e.g. 2024-01-01T00:00:00Z)"
                )
            else:
                tokens.append(Token("geography", raw, _parse_geography(raw, pos), pos))
        elif kind == "guid":
            tokens.append(Token("guid", raw, raw.lower(), pos))
        elif kind == "date":
            tokens.append(Token("date", raw, parse_datetime(raw), pos))
        elif kind == "number":
            is_float = any(c in raw for c in ".eE")
            tokens.append(Token("number", raw, float(raw) if is_float else int(raw), pos))
        elif kind == "name":
            lowered = raw.lower()
            if lowered in _KEYWORDS:
                tokens.append(Token("keyword", raw, lowered, pos))
            else:
                tokens.append(Token("name", raw, raw, pos))
        else:
            tokens.append(Token("punct", raw, raw, pos))
        pos = match.end()
    tokens.append(Token("end", "", None, len(text)))
    return tokens


# --------------------------------------------------------------------------------------
# Syntax tree
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    text: str
    pos: int


@dataclass(frozen=True)
class Literal:
    value: Any
    kind: str  # str, int, float, bool, datetime, null, geography
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Path | Literal
    right: Path | Literal


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]
    pos: int


@dataclass(frozen=True)
class Any_:
    collection: str
    variable: str
    body: Any
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


_LITERAL_KINDS = {"string": "str", "guid": "str", "date": "datetime", "geography": "geography"}


class _Parser:
    """Recursive descent over the token list; builds the tree above."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _is(self, kind: str, value: Any = None) -> bool:
        tok = self.tok
        return tok.kind == kind and (value is None or tok.value == value)

    def _expect(self, kind: str, value: Any = None, what: str = "") -> Token:
        if not self._is(kind, value):
            wanted = what or repr(value if value is not None else kind)
            raise FilterError(f"expected {wanted} at position {self.tok.pos}, found {self._seen()}")
        return self._advance()

    def _seen(self) -> str:
        tok = self.tok
        return "end of filter" if tok.kind == "end" else repr(tok.text)

    def parse(self) -> Any:
        if self._is("end"):
            raise FilterError("empty $filter")
        node = self._or()
        if not self._is("end"):
            raise FilterError(f"unexpected {self._seen()} at position {self.tok.pos}")
        return node

    def _or(self) -> Any:
        items = [self._and()]
        while self._is("keyword", "or"):
            self._advance()
            items.append(self._and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def _and(self) -> Any:
        items = [self._unary()]
        while self._is("keyword", "and"):
            self._advance()
            items.append(self._unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def _unary(self) -> Any:
        if self._is("keyword", "not"):
            self._advance()
            return Not(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        if self._is("punct", "("):
            self._advance()
            node = self._or()
            self._expect("punct", ")", "')'")
            return node
        tok = self.tok
        if tok.kind == "name" and self.tokens[self.i + 1].text == "(":
            node = self._call()
            if self.tok.kind == "keyword" and self.tok.value in ("eq", "ne"):
                # contains(Name,'x') eq true / ne false
                op = self._advance().value
                literal = self._operand()
                if not isinstance(literal, Literal) or literal.kind != "bool":
                    raise FilterError("a function result can only be compared with true or false")
                return node if (literal.value is True) == (op == "eq") else Not(node)
            return node
        left = self._operand()
        if not (self.tok.kind == "keyword" and self.tok.value in COMPARISONS):
            raise FilterError(
                f"expected a comparison operator (eq, ne, lt, le, gt, ge) at position "
                f"{self.tok.pos}, found {self._seen()}"
            )
        op = self._advance().value
        right = self._operand()
        return Compare(op, left, right)

    def _operand(self) -> Path | Literal:
        tok = self._advance()
        if tok.kind == "name":
            return Path(tok.value, tok.pos)
        if tok.kind in _LITERAL_KINDS:
            return Literal(tok.value, _LITERAL_KINDS[tok.kind], tok.pos)
        if tok.kind == "number":
            return Literal(tok.value, "float" if isinstance(tok.value, float) else "int", tok.pos)
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            return Literal(tok.value == "true", "bool", tok.pos)
        if tok.kind == "keyword" and tok.value == "null":
            return Literal(None, "null", tok.pos)
        shown = "end of filter" if tok.kind == "end" else repr(tok.text)
        raise FilterError(f"expected a property or a literal at position {tok.pos}, found {shown}")

    def _call(self) -> Any:
        name_tok = self._advance()
        name = name_tok.value
        self._expect("punct", "(", "'('")
        lowered = name.lower()
        if lowered.endswith("/any") or lowered == "any":
            variable = self._expect("name", what="a lambda variable").value
            if "/" in variable:
                raise FilterError(f"invalid lambda variable {variable!r}")
            self._expect("punct", ":", "':'")
            body = self._or()
            self._expect("punct", ")", "')'")
            return Any_(name[: -len("/any")] if "/" in name else "", variable, body, name_tok.pos)
        if lowered in STRING_FUNCTIONS:
            target = self._operand()
            self._expect("punct", ",", "','")
            argument = self._operand()
            self._expect("punct", ")", "')'")
            return Call(lowered, (target, argument), name_tok.pos)
        if lowered == "odata.csc.intersects":
            if self._is("name", "area") and self.tokens[self.i + 1].text == "=":
                self._advance()
                self._advance()
            elif self._is("name") and self.tokens[self.i + 1].text == ",":
                self._advance()  # Intersects(Footprint, geography'...')
                self._advance()
            geo = self._expect("geography", what="a geography'SRID=4326;...' literal")
            self._expect("punct", ")", "')'")
            return Call("intersects", (geo.value,), name_tok.pos)
        raise FilterError(f"unsupported function {name!r} at position {name_tok.pos}")


def parse(text: str) -> Any:
    """The syntax tree of a ``$filter`` (exposed for tests and diagnostics).

    Raises:
        FilterError: the filter is not in the supported grammar.
    """
    return _Parser(text).parse()
