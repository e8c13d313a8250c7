"""OData ``$filter`` and ``$orderby`` for the sandbox catalogue: tokenizer, parser, evaluator.

The grammar is the part of OData that CDSE documents and its clients send:

* comparisons ``eq ne lt le gt ge`` between a property and a literal (either side);
* ``and``, ``or``, ``not``, parentheses;
* ``contains``/``startswith``/``endswith(Name,'...')``;
* ``Attributes/OData.CSC.<T>Attribute/any(att:att/Name eq 'x' and att/OData.CSC.<T>Attribute/Value
  <op> <literal>)``, with any boolean expression inside (e.g. a parenthesised ``or`` of value
  comparisons). Matching keys on ``att/Name`` and the literal; cast names are not checked,
  as on CDSE, where mismatched casts are accepted;
* ``OData.CSC.Intersects(area=geography'SRID=4326;<WKT>')`` (shapely; POINT, LINESTRING,
  POLYGON, MULTI*; invalid geometries are rejected);
* literals: ``'strings'`` (``''`` escapes a quote), numbers, ``true``/``false``/``null``,
  unquoted UUIDs, dates (``2024-08-01``, ``2024-08-01T00:00:00``, any fraction, ``Z`` or
  ``+hh:mm``; no zone means UTC).

:func:`compile_filter` turns a filter into a predicate over entities once; properties are
read through a :class:`Schema`, so the same code serves Products and Bursts. Anything
outside the grammar raises :class:`FilterError` with a message fit for a 400 reply.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import shapely
from shapely import wkt as shapely_wkt
from shapely.errors import ShapelyError
from shapely.prepared import prep

Predicate = Callable[[Any], bool]


class FilterError(ValueError):
    """A ``$filter`` or ``$orderby`` the sandbox cannot evaluate; the message says why."""


@dataclass(frozen=True)
class Field:
    """A filterable property: its kind (``str``, ``int``, ``float``, ``bool``, ``datetime``)
    and how to read it from an entity."""

    kind: str
    get: Callable[[Any], Any]


@dataclass(frozen=True)
class Schema:
    """How filters read one entity set.

    Attributes:
        name: entity set name, for messages (``Products``).
        fields: property path (``ContentDate/Start``) -> :class:`Field`.
        attributes: entity -> ``{attribute name: typed value}`` for ``Attributes/any``
            lambdas; None when the set has no attributes (Bursts).
        bbox: entity -> ``(minx, miny, maxx, maxy)`` of its footprint, or None.
        geometry: entity -> shapely footprint, or None.
        orderable: properties allowed in ``$orderby``.
        key: entity -> its Id (the ``$orderby`` tie-break).
    """

    name: str
    fields: Mapping[str, Field]
    attributes: Callable[[Any], Mapping[str, Any]] | None = None
    bbox: Callable[[Any], tuple[float, float, float, float] | None] | None = None
    geometry: Callable[[Any], Any] | None = None
    orderable: Sequence[str] = field(default_factory=tuple)
    key: Callable[[Any], str] = field(default=lambda e: e["Id"])


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
_COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
_STRING_FUNCTIONS = {
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
        if not (self.tok.kind == "keyword" and self.tok.value in _COMPARISONS):
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
        if lowered in _STRING_FUNCTIONS:
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


# --------------------------------------------------------------------------------------
# Compilation to predicates
# --------------------------------------------------------------------------------------

_COMPATIBLE = {
    "str": {"str"},
    "int": {"int", "float"},
    "float": {"int", "float"},
    "bool": {"bool"},
    "datetime": {"datetime"},
}


def _values_compare(op: str, value: Any, literal: Any) -> bool:
    """Comparison of a dynamically typed value (an attribute) with a literal.

    Mismatched types never match (``ne`` excepted), so a wrong cast cannot produce a
    wrong answer: ``tileId eq 5`` simply matches nothing.
    """
    if value is None or literal is None:
        if op == "eq":
            return value is literal
        if op == "ne":
            return value is not literal
        return False
    if isinstance(value, bool) or isinstance(literal, bool):
        same = isinstance(value, bool) and isinstance(literal, bool)
    elif isinstance(value, int | float) or isinstance(literal, int | float):
        same = isinstance(value, int | float) and isinstance(literal, int | float)
    else:
        same = type(value) is type(literal)
    if not same:
        return op == "ne"
    return bool(_COMPARISONS[op](value, literal))


class _Compiler:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def compile(self, node: Any) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.compile(item) for item in node.items]
            return _conjunction(parts) if node.op == "and" else _disjunction(parts)
        if isinstance(node, Not):
            inner = self.compile(node.item)
            return lambda e: not inner(e)
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, Any_):
            return self._any(node)
        raise FilterError(f"cannot evaluate {node!r}")  # unreachable with the parser above

    def _field(self, path: Path) -> Field:
        found = self.schema.fields.get(path.text)
        if found is None:
            known = ", ".join(sorted(self.schema.fields))
            raise FilterError(
                f"unknown property {path.text!r} at position {path.pos} for "
                f"{self.schema.name}; filterable properties: {known}"
            )
        return found

    def _compare(self, node: Compare) -> Predicate:
        op, left, right = node.op, node.left, node.right
        if isinstance(left, Literal) and isinstance(right, Path):
            swapped = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
            op, left, right = swapped.get(op, op), right, left
        if not isinstance(left, Path) or not isinstance(right, Literal):
            raise FilterError(
                f"a comparison needs a property on one side and a literal on the other "
                f"(position {getattr(left, 'pos', 0)})"
            )
        field_ = self._field(left)
        literal = right
        if literal.kind == "geography":
            raise FilterError(f"geography literals only go in OData.CSC.Intersects ({left.text})")
        if literal.kind == "null":
            if op not in ("eq", "ne"):
                raise FilterError(f"null can only be compared with eq or ne ({left.text})")
            get = field_.get
            return (lambda e: get(e) is None) if op == "eq" else (lambda e: get(e) is not None)
        if literal.kind not in _COMPATIBLE[field_.kind]:
            raise FilterError(
                f"{left.text} is a {_KIND_NAMES[field_.kind]} property and cannot be compared "
                f"with {_KIND_NAMES[literal.kind]} literal {_show(literal)}"
            )
        if field_.kind == "bool" and op not in ("eq", "ne"):
            raise FilterError(f"{left.text} is Boolean: only eq and ne apply")
        value = literal.value
        compare = _COMPARISONS[op]
        get = field_.get
        if field_.kind == "str" and left.text in ("Id", "ParentProductId"):
            value = value.lower()  # UUIDs compare case-insensitively
            return lambda e: compare(get(e).lower(), value)
        return lambda e: (v := get(e)) is not None and compare(v, value)

    def _call(self, node: Call) -> Predicate:
        if node.name == "intersects":
            return self._intersects(node.args[0])
        target, argument = node.args
        if not isinstance(target, Path) or not isinstance(argument, Literal):
            raise FilterError(f"{node.name}() takes a property and a string literal")
        field_ = self._field(target)
        if field_.kind != "str" or argument.kind != "str":
            raise FilterError(f"{node.name}() works on String properties and string literals")
        test = _STRING_FUNCTIONS[node.name]
        get, text = field_.get, argument.value
        return lambda e: (v := get(e)) is not None and test(v, text)

    def _intersects(self, area: Any) -> Predicate:
        if self.schema.bbox is None or self.schema.geometry is None:
            raise FilterError(f"OData.CSC.Intersects is not available on {self.schema.name}")
        minx, miny, maxx, maxy = area.bounds
        prepared = prep(area)
        bbox, geometry = self.schema.bbox, self.schema.geometry

        def intersects(entity: Any) -> bool:
            box = bbox(entity)
            # Bounding boxes first: most entities are far away and need no shapely call.
            if box is None or box[0] > maxx or box[2] < minx or box[1] > maxy or box[3] < miny:
                return False
            return bool(prepared.intersects(geometry(entity)))

        return intersects

    def _any(self, node: Any_) -> Predicate:
        if self.schema.attributes is None:
            raise FilterError(f"{self.schema.name} have no Attributes to filter with any()")
        if node.collection.split("/")[0].lower() not in ("attributes", ""):
            raise FilterError(f"any() is only supported on Attributes, not {node.collection!r}")
        attributes = self.schema.attributes
        conjuncts = list(node.body.items) if _is_and(node.body) else [node.body]
        name, rest = None, conjuncts
        for item in conjuncts:
            if (
                isinstance(item, Compare)
                and item.op == "eq"
                and _lambda_part(item.left, node.variable) == "name"
                and isinstance(item.right, Literal)
                and item.right.kind == "str"
            ):
                name = item.right.value
                rest = [c for c in conjuncts if c is not item]
                break
        if name is not None:
            # The usual form: one attribute picked by name, then tests on its value.
            checks = [self._lambda(c, node.variable) for c in rest]

            def by_name(entity: Any) -> bool:
                values = attributes(entity)
                if name not in values:
                    return False
                value = values[name]
                return all(check(name, value) for check in checks)

            return by_name
        check = self._lambda(node.body, node.variable)
        return lambda e: any(check(n, v) for n, v in attributes(e).items())

    def _lambda(self, node: Any, variable: str) -> Callable[[str, Any], bool]:
        """Compile a lambda body over one attribute ``(name, value)``."""
        if isinstance(node, BoolOp):
            parts = [self._lambda(item, variable) for item in node.items]
            if node.op == "and":
                return lambda n, v: all(p(n, v) for p in parts)
            return lambda n, v: any(p(n, v) for p in parts)
        if isinstance(node, Not):
            inner = self._lambda(node.item, variable)
            return lambda n, v: not inner(n, v)
        if isinstance(node, Compare):
            op, left, right = node.op, node.left, node.right
            if isinstance(left, Literal) and isinstance(right, Path):
                swapped = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
                op, left, right = swapped.get(op, op), right, left
            if not isinstance(left, Path) or not isinstance(right, Literal):
                raise FilterError("inside any(), compare att/Name or att/Value with a literal")
            part = _lambda_part(left, variable)
            if right.kind == "geography":
                raise FilterError("geography literals cannot be compared inside any()")
            literal = right.value
            if part == "name":
                if right.kind != "str":
                    raise FilterError(f"{left.text} is a String and needs a string literal")
                compare = _COMPARISONS[op]
                return lambda n, v: compare(n, literal)
            return lambda n, v: _values_compare(op, v, literal)
        if isinstance(node, Call) and node.name in _STRING_FUNCTIONS:
            target, argument = node.args
            if not isinstance(target, Path) or not isinstance(argument, Literal):
                raise FilterError(f"{node.name}() takes a property and a string literal")
            part = _lambda_part(target, variable)
            test, text = _STRING_FUNCTIONS[node.name], argument.value
            if part == "name":
                return lambda n, v: test(n, text)
            return lambda n, v: isinstance(v, str) and test(v, text)
        raise FilterError("unsupported expression inside any()")


# Plain loops rather than all()/any() over a generator: this runs once per entity per
# clause, and skipping the generator makes searches over 25,000 entities noticeably faster.
def _conjunction(parts: list[Predicate]) -> Predicate:
    def all_of(entity: Any) -> bool:
        for part in parts:  # noqa: SIM110
            if not part(entity):
                return False
        return True

    return all_of


def _disjunction(parts: list[Predicate]) -> Predicate:
    def any_of(entity: Any) -> bool:
        for part in parts:  # noqa: SIM110
            if part(entity):
                return True
        return False

    return any_of


def _is_and(node: Any) -> bool:
    return isinstance(node, BoolOp) and node.op == "and"


def _lambda_part(operand: Any, variable: str) -> str:
    """``name`` for ``att/Name``, ``value`` for ``att/Value`` or ``att/<cast>/Value``."""
    if not isinstance(operand, Path):
        raise FilterError("inside any(), compare att/Name or att/Value with a literal")
    parts = operand.text.split("/")
    if parts[0] != variable:
        raise FilterError(
            f"property {operand.text!r} at position {operand.pos} does not use the lambda "
            f"variable {variable!r}"
        )
    if parts[1:] == ["Name"]:
        return "name"
    if parts[-1] == "Value" and len(parts) in (2, 3):
        return "value"
    raise FilterError(f"unsupported lambda property {operand.text!r} at position {operand.pos}")


_KIND_NAMES = {
    "str": "String",
    "int": "Integer",
    "float": "Double",
    "bool": "Boolean",
    "datetime": "DateTimeOffset",
    "null": "null",
    "geography": "geography",
}


def _show(literal: Literal) -> str:
    return repr(literal.value)


def compile_filter(text: str, schema: Schema) -> Predicate:
    """Compile a ``$filter`` into ``predicate(entity) -> bool``.

    Args:
        text: the filter, already URL-decoded.
        schema: how to read the entity set's properties.

    Raises:
        FilterError: syntax outside the grammar, unknown property, type mismatch,
            invalid geometry.

    Example:
        >>> schema = Schema("Items", {"Name": Field("str", lambda e: e["Name"])})
        >>> compile_filter("startswith(Name,'S1A')", schema)({"Name": "S1A_IW"})
        True
    """
    return _Compiler(schema).compile(parse(text))


# --------------------------------------------------------------------------------------
# $orderby
# --------------------------------------------------------------------------------------


def parse_orderby(text: str, schema: Schema) -> list[tuple[str, bool]]:
    """``$orderby`` as ``[(property, descending), ...]``.

    Raises:
        FilterError: unknown property or direction.
    """
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise FilterError(f"invalid $orderby clause {part.strip()!r}")
        prop = words[0]
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise FilterError(f"invalid $orderby direction {words[1]!r}; use asc or desc")
        if prop not in schema.orderable:
            allowed = ", ".join(schema.orderable)
            raise FilterError(f"cannot order {schema.name} by {prop!r}; use one of: {allowed}")
        keys.append((prop, direction == "desc"))
    return keys


def sort_entities(
    entities: Sequence[Any], keys: list[tuple[str, bool]], schema: Schema
) -> list[Any]:
    """Sort by the ``$orderby`` keys, then by Id ascending (stable paging, as on CDSE)."""
    ordered = sorted(entities, key=schema.key)
    for prop, descending in reversed(keys):
        get = schema.fields[prop].get
        # Stable sorts from the last key to the first; reverse=True keeps ties in Id order.
        ordered.sort(key=get, reverse=descending)
    return ordered
