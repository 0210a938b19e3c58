"""The metadata filter language: compiled SQL on the real PostgreSQL against a pure-Python reference."""

from __future__ import annotations

import operator
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from pgsimilar.core.filters import CompiledFilter, compile_filter, validate_filter
from pgsimilar.errors import InvalidFilter, InvalidInput
from pgsimilar.storage.database import Database

DROP = "x'); DROP TABLE pgsimilar.victim; --"
DROP_KEY = DROP.replace(".", " ")  # a dot in a field name separates path segments

HAND_PICKED: dict[str, dict[str, Any]] = {
    "int5": {"n": 5, "s": "a", "flag": True, "tags": ["red", "blue"], "nested": {"x": 1, "deep": {"y": "q"}}},
    "float5": {"n": 5.0, "s": "Z", "flag": False, "tags": ["red"], "nested": {"x": 1.0}},
    "true": {"n": True, "s": "é", "tags": [True, 1], "nested": {"x": True}},
    "one": {"n": 1, "s": "🎨", "tags": [1.0, "1"], "nested": {"x": [1]}},
    "null": {"n": None, "s": None, "tags": None, "nested": None},
    "empty": {},
    "strnum": {"n": "5", "s": "10", "tags": "red", "nested": {"x": "1"}},
    "arrays": {"n": [5], "s": ["a"], "tags": [["red"], "blue"], "nested": [{"x": 1}]},
    "zero": {"n": 0, "s": "", "tags": [], "nested": {}},
    "negzero": {"n": -0.0, "s": "ß", "flag": None},
    "big": {"n": 10**20, "s": "zz"},
    "bigfloat": {"n": 1e20, "s": "z"},
    "tenth": {"n": 0.1, "s": "A"},
    "sum": {"n": 0.30000000000000004, "s": "9"},
    "neg": {"n": -3.25, "s": "b"},
    "huge": {"n": 2**63 + 1, "s": "ab"},
    "keyzero": {"nested": {"0": "zero-key"}, "arr": ["zero-index"]},
    "weird": {
        DROP_KEY: "boom",
        'a"b': 1,
        "back\\slash": "\\",
        "ключ": "значение",
        "we'ird": {'ke"y': "v'\"\\"},
    },
    "weird2": {"val": DROP, "tags": [DROP, "a'b"]},
    "dotted": {"a.b": 1, "a": {"b": 2}},
    "deep": {"l1": {"l2": {"l3": {"l4": 4}}}},
}

SCALARS: list[Any] = [0, 1, -1, 2, 2.5, 5, 5.0, 10, 10**20, -3.25, 0.1, True, False, None]
SCALARS += ["", "a", "A", "b", "é", "z", "Z", "10", "9", "5", "🎨", "ß", "red", "blue", "green"]
VALUES: list[Any] = [*SCALARS, [], [1, 2], ["red", "blue"], [True], [1.0, "a"], [[1]], {"x": 1}, {}]


def _generated_records(count: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(20240601)
    records = {}
    for i in range(count):
        metadata: dict[str, Any] = {}
        for field in ("n", "s", "flag", "price", "color", "rating"):
            if rng.random() < 0.7:
                metadata[field] = rng.choice(VALUES)
        if rng.random() < 0.7:
            metadata["tags"] = rng.sample(
                ["red", "blue", "green", 1, 2.0, True, None, "é"], rng.randint(0, 4)
            )
        if rng.random() < 0.6:
            metadata["nested"] = {"x": rng.choice(SCALARS), "deep": {"y": rng.choice(VALUES)}}
        records[f"gen{i:02d}"] = metadata
    return records


RECORDS = HAND_PICKED | _generated_records(40)


# --- The reference: what each filter means, in plain Python -------------------------------------------

MISSING = object()
ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(value: Any, scalar: Any) -> bool:
    if is_number(value) and is_number(scalar):
        return bool(value == scalar)
    if isinstance(value, bool) or isinstance(scalar, bool):
        return isinstance(value, bool) and isinstance(scalar, bool) and value == scalar
    if value is None or scalar is None:
        return value is scalar
    return isinstance(value, str) and isinstance(scalar, str) and value == scalar


def lookup(metadata: Any, field: str) -> Any:
    for segment in field.split("."):
        if not isinstance(metadata, dict) or segment not in metadata:
            return MISSING
        metadata = metadata[segment]
    return metadata


def holds(found: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return found is not MISSING and json_equal(found, operand)
    if op == "$ne":
        return not holds(found, "$eq", operand)
    if op == "$in":
        return any(holds(found, "$eq", item) for item in operand)
    if op == "$nin":
        return not holds(found, "$in", operand)
    if op == "$exists":
        return (found is not MISSING) == bool(operand)
    if op == "$contains":
        items = operand if isinstance(operand, list) else [operand]
        return isinstance(found, list) and all(any(json_equal(e, item) for e in found) for item in items)
    same_type = is_number(found) if is_number(operand) else isinstance(found, str)
    return same_type and bool(ORDER[op](found, operand))


def matches(metadata: dict[str, Any], filter: Mapping[str, Any] | None) -> bool:
    return all(_entry_holds(metadata, key, value) for key, value in (filter or {}).items())


def _entry_holds(metadata: dict[str, Any], key: str, value: Any) -> bool:
    if key == "$and":
        return all(matches(metadata, item) for item in value)
    if key == "$or":
        return any(matches(metadata, item) for item in value)
    if key == "$not":
        return not matches(metadata, value)
    spec = value if isinstance(value, dict) else {"$eq": value}
    found = lookup(metadata, key)
    return all(holds(found, op, operand) for op, operand in spec.items())


def reference(filter: Mapping[str, Any] | None) -> set[str]:
    return {id for id, metadata in RECORDS.items() if matches(metadata, filter)}


# --- Fixtures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scratch:
    ident: sql.Identifier
    gin_index: str


@pytest.fixture(scope="module")
def table(database: Database) -> Iterator[Scratch]:
    """A scratch table of RECORDS with a GIN index, shared by the module (one name no other test uses)."""
    name = f"t{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier("pgsimilar", name)
    with database.connection() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id text PRIMARY KEY, metadata jsonb NOT NULL)").format(ident))
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING gin (metadata)").format(sql.Identifier(f"{name}_gin"), ident)
        )
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {} (id, metadata) VALUES (%s, %s)").format(ident),
                [(id, Jsonb(metadata)) for id, metadata in RECORDS.items()],
            )
        conn.execute(sql.SQL("ANALYZE {}").format(ident))
    yield Scratch(ident, f"{name}_gin")
    with database.connection() as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(ident))


@pytest.fixture
def conn(database: Database) -> Iterator[psycopg.Connection[Any]]:
    with database.connection() as connection:
        yield connection


def select_ids(conn: psycopg.Connection[Any], table: Scratch, filter: Mapping[str, Any] | None) -> set[str]:
    compiled = compile_filter(filter)
    query = sql.SQL("SELECT id FROM {} WHERE {}").format(table.ident, compiled.sql)
    return {row[0] for row in conn.execute(query, compiled.params)}


# --- Every operator against the reference -------------------------------------------------------------

CASES: list[Any] = [
    {"n": 5},
    {"n": {"$eq": 5.0}},
    {"n": True},
    {"n": 1},
    {"n": None},
    {"n": "5"},
    {"n": 10**20},
    {"n": 0.30000000000000004},
    {"n": 0},
    {"s": "é"},
    {"nested.x": 1},
    {"nested.deep.y": "q"},
    {"n": {"$ne": 5}},
    {"flag": {"$ne": None}},
    {"n": {"$gt": 1}},
    {"n": {"$gte": 1}},
    {"n": {"$lt": 0.30000000000000004}},
    {"n": {"$lte": 0.1}},
    {"n": {"$gt": 2**63}},
    {"n": {"$gte": -3.25, "$lt": 5}},
    {"s": {"$gt": "Z"}},
    {"s": {"$lt": "a"}},
    {"s": {"$gte": "é"}},
    {"s": {"$lte": ""}},
    {"s": {"$gt": "9", "$lt": "z"}},
    {"n": {"$in": [5, True, None]}},
    {"s": {"$in": ["a", "10", "🎨"]}},
    {"nested.x": {"$in": [1, "1"]}},
    {"n": {"$nin": [5, 1]}},
    {"n": {"$exists": True}},
    {"n": {"$exists": False}},
    {"nested.x": {"$exists": True}},
    {"nested.deep": {"$exists": False}},
    {"nested.0": {"$exists": True}},
    {"tags": {"$contains": "red"}},
    {"tags": {"$contains": ["red", "blue"]}},
    {"tags": {"$contains": 1}},
    {"tags": {"$contains": True}},
    {"tags": {"$contains": [None]}},
    {"$and": [{"n": {"$exists": True}}, {"s": {"$exists": True}}]},
    {"$or": [{"n": 5}, {"s": "a"}, {"tags": {"$contains": "green"}}]},
    {"$not": {"n": 5}},
    {"$not": {"n": {"$gt": 1}}},
    {"$not": {"s": {"$lt": "b"}}},
    {"$not": {"$or": [{"n": {"$gt": 0}}, {"n": {"$exists": False}}]}},
    {"n": 5, "s": "a"},
    {"flag": False, "$or": [{"price": {"$exists": True}}, {"color": "red"}]},
    {"a.b": 2},
    {"l1.l2.l3.l4": {"$gte": 4}},
    {"l1.l2": {"$exists": True}, "l1.l2.l3.l5": {"$exists": False}},
]


@pytest.mark.parametrize("filter", CASES, ids=[str(case) for case in CASES])
def test_operator_matches_reference(
    conn: psycopg.Connection[Any], table: Scratch, filter: dict[str, Any]
) -> None:
    expected = reference(filter)
    assert expected, "every hand-written case should match something"
    assert select_ids(conn, table, filter) == expected


def test_empty_filter_matches_everything(conn: psycopg.Connection[Any], table: Scratch) -> None:
    assert select_ids(conn, table, None) == set(RECORDS)
    assert select_ids(conn, table, {}) == set(RECORDS)
    assert compile_filter(None).params == {}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"n": 5}, {"int5", "float5"}),  # 5 == 5.0; not "5", not [5], not True
        ({"n": 1}, {"one"}),  # True is not 1
        ({"n": None}, {"null"}),
        ({"n": 10**20}, {"big", "bigfloat"}),
        ({"n": {"$gte": 10**20}}, {"big", "bigfloat"}),
        (
            {"s": {"$gt": "z"}},
            {"big", "negzero", "true", "one"},
        ),  # "zz" "ß" "é" "🎨"  # code point order, not a locale's
        ({"tags": {"$contains": 1}}, {"true", "one"}),  # 1 == 1.0 inside arrays; True is not 1
        (
            {"tags": {"$contains": "red"}},
            {"int5", "float5"},
        ),  # a scalar field, or a nested array, is not an array holding it
        ({"nested.0": "zero-key"}, {"keyzero"}),  # a key named "0" ...
        ({"arr.0": {"$exists": True}}, set()),  # ... never an array index
        ({"a.b": 2}, {"dotted"}),  # a dotted path, not the key "a.b"
    ],
)
def test_semantics_pinned(
    conn: psycopg.Connection[Any], table: Scratch, filter: dict[str, Any], expected: set[str]
) -> None:
    assert select_ids(conn, table, filter) & set(HAND_PICKED) == expected


def test_absent_field_matches_negations(conn: psycopg.Connection[Any], table: Scratch) -> None:
    for filter in ({"n": {"$ne": 5}}, {"n": {"$nin": [5]}}, {"$not": {"n": {"$gt": 0}}}):
        assert "empty" in select_ids(conn, table, filter)
    assert "null" in select_ids(conn, table, {"n": {"$exists": True}})


# --- Random filters against the reference -------------------------------------------------------------

FIELDS = ["n", "s", "flag", "tags", "price", "color", "rating", "nested.x", "nested.deep.y", "missing"]
FIELDS += ["nested.missing", "l1.l2.l3.l4", "a.b", "we'ird.ke\"y"]


def random_condition(rng: random.Random) -> dict[str, Any]:
    op = rng.choice(
        ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains", "implicit"]
    )
    if op in ("$gt", "$gte", "$lt", "$lte"):
        operand: Any = rng.choice([s for s in SCALARS if isinstance(s, str) or is_number(s)])
    elif op in ("$in", "$nin"):
        operand = rng.sample(SCALARS, rng.randint(1, 4))
    elif op == "$exists":
        operand = rng.random() < 0.5
    elif op == "$contains":
        operand = rng.choice(SCALARS) if rng.random() < 0.5 else rng.sample(SCALARS, rng.randint(1, 2))
    else:
        operand = rng.choice(SCALARS)
    field = rng.choice(FIELDS)
    return {field: operand} if op == "implicit" else {field: {op: operand}}


def random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kind = rng.random()
    if depth >= 3 or kind < 0.5:
        return random_condition(rng)
    if kind < 0.65:
        return {"$not": random_filter(rng, depth + 1)}
    items = [random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    if kind < 0.8:
        return {rng.choice(["$and", "$or"]): items}
    merged: dict[str, Any] = {}
    for item in items:
        merged.update(item)  # several keys in one object
    return merged


def test_random_filters_match_reference(conn: psycopg.Connection[Any], table: Scratch) -> None:
    rng = random.Random(7)
    nontrivial = 0
    for _ in range(400):
        filter = random_filter(rng)
        expected = reference(filter)
        assert select_ids(conn, table, filter) == expected, filter
        nontrivial += 0 < len(expected) < len(RECORDS)
    assert nontrivial > 150  # most filters neither match everything nor nothing


# --- Hostile keys and values are data --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({DROP_KEY: "boom"}, {"weird"}),
        ({DROP_KEY: {"$exists": True}}, {"weird"}),
        ({DROP: {"$exists": False}}, set(RECORDS)),
        ({"val": DROP}, {"weird2"}),
        ({"val": {"$gte": DROP}}, {"weird2"}),
        ({"val": {"$in": [DROP, 'a"b']}}, {"weird2"}),
        ({"tags": {"$contains": [DROP, "a'b"]}}, {"weird2"}),
        ({'a"b': 1}, {"weird"}),
        ({'a"b': {"$lte": 1}}, {"weird"}),
        ({"back\\slash": "\\"}, {"weird"}),
        ({"back\\slash": {"$gt": ""}}, {"weird"}),
        ({"ключ": "значение"}, {"weird"}),
        ({"we'ird.ke\"y": "v'\"\\"}, {"weird"}),
        ({"we'ird.ke\"y": {"$exists": True}}, {"weird"}),
        ({"we'ird.ke\"y": {"$lt": "w"}}, {"weird"}),
        ({"s": "%(f0)s"}, set()),
        ({"%(f0)s": {"$exists": True}}, set()),
        ({"s": "{}"}, set()),
    ],
)
def test_hostile_text_is_data(
    conn: psycopg.Connection[Any], table: Scratch, filter: dict[str, Any], expected: set[str]
) -> None:
    assert select_ids(conn, table, filter) == expected == reference(filter)
    count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.ident)).fetchone()
    assert count == (len(RECORDS),)


def test_no_user_text_in_sql() -> None:
    compiled = compile_filter(
        {DROP: {"$gt": DROP}, "a.b": {"$exists": True}, "$or": [{"s": {"$in": [DROP]}}]}
    )
    text = compiled.sql.as_string(None)
    assert "DROP" not in text and "'a'" not in text
    assert DROP in compiled.params.values()


def test_prefix_and_qualified_column_merge_with_caller_params(
    conn: psycopg.Connection[Any], table: Scratch
) -> None:
    compiled = compile_filter({"n": 5, "s": {"$lt": "b"}}, column="t.metadata", param_prefix="w")
    assert all(name.startswith("w") for name in compiled.params)
    query = sql.SQL("SELECT id FROM {} AS t WHERE t.id <> %(q)s AND {} LIMIT %(k)s").format(
        table.ident, compiled.sql
    )
    rows = conn.execute(query, {"q": "float5", "k": 10, **compiled.params}).fetchall()
    assert {row[0] for row in rows} == {"int5"}


@pytest.mark.parametrize("prefix", ["", "1f", "f)s", "f-"])
def test_bad_param_prefix_is_a_programming_error(prefix: str) -> None:
    with pytest.raises(ValueError, match="param_prefix"):
        compile_filter({"n": 1}, param_prefix=prefix)


# --- Malformed filters ----------------------------------------------------------------------------------


def nested_not(levels: int) -> dict[str, Any]:
    filter: dict[str, Any] = {"n": 5}
    for _ in range(levels):
        filter = {"$not": filter}
    return filter


MALFORMED: list[tuple[Any, str]] = [
    ([{"n": 1}], "filter: a filter must be a JSON object, got list"),
    ("n = 1", "filter: a filter must be a JSON object, got str"),
    (
        {"$or": [{"n": 1}, {"price": {"$gt": [1]}}]},
        "filter.$or[1].price: $gt needs a number or a string, got list",
    ),
    ({"$or": []}, "filter.$or: $or needs a non-empty list of filters, got list"),
    ({"$and": {"n": 1}}, "filter.$and: $and needs a non-empty list of filters, got dict"),
    ({"$not": [{"n": 1}]}, "filter.$not: a filter must be a JSON object, got list"),
    ({"$and": [{"n": 1}, 5]}, "filter.$and[1]: a filter must be a JSON object, got int"),
    ({"$nor": [{"n": 1}]}, "filter.$nor: unknown logical operator $nor"),
    ({"$eq": 1}, "filter.$eq: unknown logical operator $eq"),
    ({"price": {"$foo": 1}}, "filter.price: $foo is not an operator (known: $eq"),
    ({"price": {"$gt": 1, "$regex": "a"}}, "filter.price: $regex is not an operator"),
    ({"price": {"$gt": True}}, "filter.price: $gt needs a number or a string, got bool True"),
    ({"price": {"$lte": None}}, "filter.price: $lte needs a number or a string, got null"),
    (
        {"price": {"$eq": [1]}},
        "filter.price: $eq needs a JSON scalar (string, number, boolean or null), got list",
    ),
    ({"price": [1, 2]}, "filter.price: $eq needs a JSON scalar"),
    ({"price": {"$ne": {"a": 1}}}, "filter.price: $ne needs a JSON scalar"),
    ({"price": {"amount": 1}}, "filter.price: expected operators starting with '$', got key 'amount'"),
    ({"price": {}}, "filter.price: needs at least one operator"),
    ({"price": float("nan")}, "filter.price: $eq needs a finite number, got nan"),
    ({"price": {"$gt": float("inf")}}, "filter.price: $gt needs a finite number, got inf"),
    ({"price": {"$in": [1, float("-inf")]}}, "filter.price: $in[1] needs a finite number, got -inf"),
    ({"price": 10**1000}, "filter.price: $eq needs integers of at most 1000 digits"),
    ({1: "a"}, "filter: keys must be strings, got int 1"),
    ({"": 1}, "filter['']: field names cannot be empty"),
    ({"a..b": 1}, "filter['a..b']: field path 'a..b' has an empty segment"),
    ({".a": 1}, "has an empty segment"),
    ({"a.": 1}, "has an empty segment"),
    ({".".join("a" * 21): 1}, "has more than 20 segments"),
    ({"price": {"$in": []}}, "filter.price: $in needs a non-empty list of JSON scalars, got list"),
    ({"price": {"$in": "abc"}}, "filter.price: $in needs a non-empty list of JSON scalars, got str 'abc'"),
    ({"price": {"$in": {1, 2}}}, "filter.price: $in needs a non-empty list of JSON scalars, got set"),
    ({"price": {"$in": [1, [2]]}}, "filter.price: $in[1] needs a JSON scalar"),
    ({"price": {"$in": list(range(1001))}}, "filter.price: $in takes at most 1000 items, got 1001"),
    ({"price": {"$nin": 5}}, "filter.price: $nin needs a non-empty list of JSON scalars, got int 5"),
    ({"price": {"$exists": 1}}, "filter.price: $exists needs true or false, got int 1"),
    ({"price": {"$exists": "yes"}}, "filter.price: $exists needs true or false, got str 'yes'"),
    ({"tags": {"$contains": []}}, "filter.tags: $contains needs a non-empty list of JSON scalars"),
    (
        {"tags": {"$contains": {"a": 1}}},
        "filter.tags: $contains needs a JSON scalar or a non-empty list of them",
    ),
    ({"tags": {"$contains": [["a"]]}}, "filter.tags: $contains[0] needs a JSON scalar"),
    ({"name": "a\x00b"}, "filter.name: $eq: strings cannot contain NUL"),
    ({"na\x00me": 1}, "field name cannot contain NUL"),
    ({"name": "\ud800"}, "filter.name: $eq: strings must be valid Unicode text"),
    (nested_not(21), "logical operators nest deeper than 20 levels"),
    ({"$and": [{"n": i} for i in range(500)]}, "the filter holds more than 500 conditions"),
    (
        {"n": {"$gt": 1}, "$or": [{f"f{i}": {"$gt": 1, "$lt": 9}} for i in range(250)]},
        "more than 500 conditions",
    ),
    ({"$or": [{} for _ in range(600)]}, "more than 500 conditions"),
]


@pytest.mark.parametrize(("filter", "message"), MALFORMED, ids=[message for _, message in MALFORMED])
def test_malformed_filter_is_refused(filter: Any, message: str) -> None:
    with pytest.raises(InvalidFilter) as compile_error:
        compile_filter(filter)
    assert message in str(compile_error.value)
    with pytest.raises(InvalidFilter) as validate_error:
        validate_filter(filter)
    assert str(validate_error.value) == str(compile_error.value)


def test_invalid_filter_is_a_value_error() -> None:
    assert issubclass(InvalidFilter, InvalidInput)
    assert issubclass(InvalidFilter, ValueError)


@pytest.mark.parametrize(
    "filter",
    [
        None,
        {},
        nested_not(20),
        {"$and": [{"n": i} for i in range(499)]},
        {"price": {"$in": list(range(1000))}},
        {".".join("a" * 20): 1},
        {"a.$b": 1},
        {"price": 10**999},
    ],
    ids=[
        "none",
        "empty",
        "depth-20",
        "500-conditions",
        "1000-items",
        "20-segments",
        "dollar-inside",
        "999-digits",
    ],
)
def test_limits_are_inclusive(filter: Any) -> None:
    validate_filter(filter)
    compile_filter(filter)


def test_deep_filter_runs(conn: psycopg.Connection[Any], table: Scratch) -> None:
    found = select_ids(conn, table, nested_not(20))
    assert found == reference(nested_not(20))
    assert found & set(HAND_PICKED) == {"int5", "float5"}


# --- The GIN index serves equality and containment ---------------------------------------------------------


@pytest.mark.parametrize(
    "filter",
    [
        {"n": 5},
        {"nested.deep.y": "q"},
        {"tags": {"$contains": ["red", "blue"]}},
        {"s": {"$in": ["a", "b"]}},
        {"n": {"$exists": True}},
        {"$or": [{"n": 5}, {"s": "z"}]},
    ],
    ids=str,
)
def test_gin_index_is_used(conn: psycopg.Connection[Any], table: Scratch, filter: dict[str, Any]) -> None:
    compiled: CompiledFilter = compile_filter(filter)
    conn.execute("SET LOCAL enable_seqscan = off")
    query = sql.SQL("EXPLAIN SELECT id FROM {} WHERE {}").format(table.ident, compiled.sql)
    plan = "\n".join(row[0] for row in conn.execute(query, compiled.params))
    assert table.gin_index in plan, plan
