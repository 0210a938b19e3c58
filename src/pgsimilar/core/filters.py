"""Metadata filters: a small JSON language, compiled to parameterised SQL on a ``jsonb`` column.

A filter is a JSON object (a Python mapping). ``None`` and ``{}`` match every record. Each key is
either a field name or a logical operator, and all keys of one object must hold (AND)::

    {"artist": "Vincent van Gogh", "year": {"$gte": 1885, "$lt": 1890}}
    {"$or": [{"tags": {"$contains": "flowers"}}, {"museum.city": {"$in": ["Amsterdam", "Paris"]}}]}

Fields
    A field name is a non-empty string that does not start with ``$``. Dots separate the segments of
    a path into nested objects: ``"museum.city"`` is ``metadata -> 'museum' -> 'city'``. Every segment
    must be non-empty (later ones may start with ``$``), there are at most 20 of them, and paths step
    through objects only (``"a.0"`` never indexes an array; it looks for the key ``"0"``). A key that
    itself contains a dot cannot be addressed. ``{"field": value}`` is short for ``{"field": {"$eq":
    value}}``; ``{"field": {"$op": operand, ...}}`` applies several operators, all of which must hold.

Values
    A *scalar* is a string, a number (int or finite float), a boolean or null (``None``). Numbers
    compare as the decimal numbers their JSON text denotes (a float as its shortest ``repr``), so
    ``5 == 5.0``; booleans are not numbers (``True != 1``). Strings compare by Unicode code point
    (``COLLATE "C"``), exactly like Python's ``<``. Strings cannot contain NUL (``\\u0000``), which
    PostgreSQL cannot store, nor lone surrogates; integers are limited to 1000 digits.

Operators (a record whose metadata lacks the field never satisfies a positive test)
    ``$eq`` scalar        the field exists and its value equals the scalar (``None`` matches JSON
                          null only; an array never equals a scalar). Compiled to ``metadata @>``
                          containment, which the GIN index serves.
    ``$ne`` scalar        ``NOT $eq``: records lacking the field match.
    ``$gt $gte $lt $lte`` a number or a string; the field's value must have the same JSON type
                          (number or string) and compare accordingly; other types never match.
    ``$in`` list          a non-empty list of at most 1000 scalars; the field equals one of them.
    ``$nin`` list         ``NOT $in``: records lacking the field match.
    ``$exists`` bool      true: the path is present (even with a JSON null value); false: absent.
    ``$contains`` x       the field is a JSON array holding the scalar ``x``, or all items of ``x``
                          when ``x`` is a non-empty list of scalars (equality as in ``$eq``).
    ``$and`` / ``$or``    a non-empty list of filters, all / any of which must hold.
    ``$not`` filter       the filter does not hold.

Every compiled predicate is a non-NULL boolean, so ``$not`` negates exactly. Filters may nest at most
20 logical operators deep and hold at most 500 conditions (each field operator, implicit ``$eq``
included, each logical operator and each empty sub-filter counts one). Anything else raises
:class:`~pgsimilar.errors.InvalidFilter` with a message naming the place, e.g.
``filter.$or[1].price: $gt needs a number or a string, got list``.

All values and keys travel as bound parameters named ``<param_prefix>0``, ``<param_prefix>1``, ...;
no user text is ever pasted into the SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.sql import Composable
from psycopg.types.json import Jsonb

from ..errors import InvalidFilter

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_LIST_ITEMS",
    "CompiledFilter",
    "compile_filter",
    "validate_filter",
]

MAX_DEPTH = 20
"""How deeply logical operators may nest, and how many segments a dotted field path may have."""
MAX_CONDITIONS = 500
"""How many conditions one filter may hold."""
MAX_LIST_ITEMS = 1000
"""How many items an ``$in``, ``$nin`` or ``$contains`` list may hold."""

_INT_LIMIT = 10**1000
_PREFIX_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEY_PATTERN = re.compile(r"[^\W\d]\w*(?:\.\w+)*")
_ORDERING = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains")
_SCALAR = "a JSON scalar (string, number, boolean or null)"
_TRUE = sql.SQL("TRUE")


@dataclass(frozen=True)
class CompiledFilter:
    """A filter as SQL: ``sql`` is a boolean expression whose named placeholders ``params`` fills."""

    sql: Composable
    params: dict[str, Any]

    def keeps_everything(self) -> bool:
        """Whether this is the empty filter (``TRUE``), which leaves every row in."""
        return self.sql is _TRUE


def compile_filter(
    filter: Mapping[str, Any] | None, *, column: str = "metadata", param_prefix: str = "f"
) -> CompiledFilter:
    """Compile ``filter`` into a boolean SQL expression on the jsonb ``column``.

    ``column`` may be qualified (``"t.metadata"``). Placeholders are named ``param_prefix`` followed
    by a number, so the caller can merge ``params`` into those of a bigger query. Raises
    :class:`InvalidFilter` when the filter does not follow the language described in this module.
    """
    if filter is None:
        return CompiledFilter(_TRUE, {})
    compiler = _Compiler(column, param_prefix)
    expression = compiler.node(filter, "filter", 0)
    return CompiledFilter(expression, compiler.params)


def validate_filter(filter: Any) -> None:
    """Raise :class:`InvalidFilter` unless ``filter`` is ``None`` or a well-formed filter."""
    if filter is not None:
        _Compiler("metadata", "f").node(filter, "filter", 0)


class _Compiler:
    """One compilation: the bound parameters so far and the number of conditions seen."""

    def __init__(self, column: str, prefix: str) -> None:
        if not _PREFIX_PATTERN.fullmatch(prefix):
            raise ValueError(f"param_prefix must be a plain identifier, got {prefix!r}")
        parts = column.split(".")
        if not all(parts):
            raise ValueError(f"column must be a column name, optionally qualified, got {column!r}")
        self.column = sql.Identifier(*parts)
        self.prefix = prefix
        self.params: dict[str, Any] = {}
        self.conditions = 0

    def bind(self, value: Any) -> Composable:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)

    def count(self, where: str) -> None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise InvalidFilter(f"{where}: the filter holds more than {MAX_CONDITIONS} conditions")

    def node(self, node: Any, where: str, depth: int) -> Composable:
        if not isinstance(node, Mapping):
            raise InvalidFilter(f"{where}: a filter must be a JSON object, got {_type_name(node)}")
        if depth > MAX_DEPTH:
            raise InvalidFilter(f"{where}: logical operators nest deeper than {MAX_DEPTH} levels")
        if not node:
            self.count(where)
            return _TRUE
        return _join([self.entry(key, value, where, depth) for key, value in node.items()], "AND")

    def entry(self, key: Any, value: Any, where: str, depth: int) -> Composable:
        if not isinstance(key, str):
            raise InvalidFilter(f"{where}: keys must be strings, got {_type_name(key)} {key!r}")
        if key.startswith("$"):
            return self.logical(key, value, f"{where}.{key}", depth)
        return self.field(key, value, _where_key(where, key))

    def logical(self, op: str, operand: Any, where: str, depth: int) -> Composable:
        self.count(where)
        if op == "$not":
            return _negate(self.node(operand, where, depth + 1))
        if op not in ("$and", "$or"):
            raise InvalidFilter(
                f"{where}: unknown logical operator {op} (use $and, $or or $not; field operators go under "
                'a field, as in {"price": {"$gt": 5}}, and field names cannot start with "$")'
            )
        if not isinstance(operand, list | tuple) or not operand:
            raise InvalidFilter(f"{where}: {op} needs a non-empty list of filters, got {_describe(operand)}")
        parts = [self.node(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(operand)]
        return _join(parts, op[1:].upper())

    def field(self, name: str, spec: Any, where: str) -> Composable:
        path = _parse_path(name, where)
        if not isinstance(spec, Mapping):
            self.count(where)
            return self.operator(path, "$eq", spec, where)
        if not spec:
            raise InvalidFilter(f'{where}: needs at least one operator, as in {{"$eq": value}}')
        parts = []
        for op, operand in spec.items():
            if not isinstance(op, str) or not op.startswith("$"):
                raise InvalidFilter(
                    f"{where}: expected operators starting with '$', got key {op!r}; "
                    "to reach into a nested object use a dotted field name such as 'a.b'"
                )
            self.count(where)
            parts.append(self.operator(path, op, operand, where))
        return _join(parts, "AND")

    def operator(self, path: list[str], op: str, operand: Any, where: str) -> Composable:
        what = f"{where}: {op}"
        match op:
            case "$eq":
                return self.equals(path, operand, what)
            case "$ne":
                return _negate(self.equals(path, operand, what))
            case "$in":
                return self.equals_any(path, operand, what)
            case "$nin":
                return _negate(self.equals_any(path, operand, what))
            case "$gt" | "$gte" | "$lt" | "$lte":
                return self.ordering(path, _ORDERING[op], operand, what)
            case "$exists":
                return self.exists(path, operand, what)
            case "$contains":
                return self.contains(path, operand, what)
        raise InvalidFilter(f"{what} is not an operator (known: {', '.join(_FIELD_OPERATORS)})")

    def containment(self, document: Any) -> Composable:
        # `column @> {...}` is the form the GIN index (jsonb_ops) can answer.
        return sql.SQL("({} @> {})").format(self.column, self.bind(Jsonb(document)))

    def equals(self, path: list[str], operand: Any, what: str) -> Composable:
        _check_scalar(operand, what)
        return self.containment(_nest(path, operand))

    def equals_any(self, path: list[str], operand: Any, what: str) -> Composable:
        items = _scalar_list(operand, what)
        documents = [Jsonb(_nest(path, item)) for item in items]
        return sql.SQL("({} @> ANY({}::jsonb[]))").format(self.column, self.bind(documents))

    def contains(self, path: list[str], operand: Any, what: str) -> Composable:
        if isinstance(operand, list | tuple):
            items = _scalar_list(operand, what)
        else:
            _check_scalar(operand, what, "a JSON scalar or a non-empty list of them")
            items = [operand]
        return self.containment(_nest(path, items))

    def exists(self, path: list[str], operand: Any, what: str) -> Composable:
        if not isinstance(operand, bool):
            raise InvalidFilter(f"{what} needs true or false, got {_describe(operand)}")
        keys = [self.bind(segment) for segment in path]
        if len(keys) == 1:
            present = sql.SQL("({} ? {}::text)").format(self.column, keys[0])
        else:
            present = sql.SQL("({} IS NOT NULL)").format(_chain(self.column, keys))
        return present if operand else _negate(present)

    def ordering(self, path: list[str], symbol: str, operand: Any, what: str) -> Composable:
        if isinstance(operand, str):
            _check_text(operand, what)
        elif isinstance(operand, bool) or not isinstance(operand, int | float):
            raise InvalidFilter(f"{what} needs a number or a string, got {_describe(operand)}")
        else:
            _check_number(operand, what)
        keys = [self.bind(segment) for segment in path]
        value, comparison = _chain(self.column, keys), sql.SQL(symbol)
        if isinstance(operand, str):
            template = "COALESCE(jsonb_typeof({v}) = 'string' AND {t} COLLATE \"C\" {cmp} {p}::text, FALSE)"
            text, param = _chain(self.column, keys, text=True), self.bind(operand)
            return sql.SQL(template).format(v=value, t=text, cmp=comparison, p=param)
        # jsonb compares two numbers as numerics, exactly, without a lossy cast through float8.
        template = "COALESCE(jsonb_typeof({v}) = 'number' AND {v} {cmp} {p}, FALSE)"
        return sql.SQL(template).format(v=value, cmp=comparison, p=self.bind(Jsonb(operand)))


def _chain(column: Composable, keys: Sequence[Composable], *, text: bool = False) -> Composable:
    """``(column -> k0 -> k1)``; ``->`` with a text key steps into objects only, never into arrays."""
    expression = column
    for i, key in enumerate(keys):
        arrow = sql.SQL("->>" if text and i == len(keys) - 1 else "->")
        expression = sql.SQL("{} {} {}::text").format(expression, arrow, key)
    return sql.SQL("({})").format(expression)


def _join(parts: list[Composable], conjunction: str) -> Composable:
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("({})").format(sql.SQL(f" {conjunction} ").join(parts))


def _negate(predicate: Composable) -> Composable:
    return sql.SQL("(NOT {})").format(predicate)


def _nest(path: Sequence[str], leaf: Any) -> Any:
    document = leaf
    for segment in reversed(path):
        document = {segment: document}
    return document


def _parse_path(name: str, where: str) -> list[str]:
    if not name:
        raise InvalidFilter(f"{where}: field names cannot be empty")
    _check_text(name, where, "field name")
    segments = name.split(".")
    if not all(segments):
        raise InvalidFilter(f"{where}: field path {name!r} has an empty segment (write 'a.b')")
    if len(segments) > MAX_DEPTH:
        raise InvalidFilter(f"{where}: field path {name!r} has more than {MAX_DEPTH} segments")
    return segments


def _scalar_list(operand: Any, what: str) -> list[Any]:
    if not isinstance(operand, list | tuple) or not operand:
        raise InvalidFilter(f"{what} needs a non-empty list of JSON scalars, got {_describe(operand)}")
    if len(operand) > MAX_LIST_ITEMS:
        raise InvalidFilter(f"{what} takes at most {MAX_LIST_ITEMS} items, got {len(operand)}")
    for i, item in enumerate(operand):
        _check_scalar(item, f"{what}[{i}]")
    return list(operand)


def _check_scalar(value: Any, what: str, expected: str = _SCALAR) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _check_text(value, what)
    elif isinstance(value, int | float):
        _check_number(value, what)
    else:
        raise InvalidFilter(f"{what} needs {expected}, got {_describe(value)}")


def _check_number(value: int | float, what: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidFilter(f"{what} needs a finite number, got {value!r}")
    if isinstance(value, int) and abs(value) >= _INT_LIMIT:
        raise InvalidFilter(f"{what} needs integers of at most 1000 digits")


def _check_text(value: str, what: str, kind: str = "strings") -> None:
    if "\x00" in value:
        raise InvalidFilter(f"{what}: {kind} cannot contain NUL (\\u0000); PostgreSQL cannot store it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidFilter(f"{what}: {kind} must be valid Unicode text ({exc.reason})") from None


def _where_key(where: str, key: str) -> str:
    return f"{where}.{key}" if _PLAIN_KEY_PATTERN.fullmatch(key) else f"{where}[{key!r}]"


def _describe(value: Any) -> str:
    """The type of a value, with the value itself when it is a short scalar."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 40):
        return f"{_type_name(value)} {value!r}"
    return _type_name(value)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
