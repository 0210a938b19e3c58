"""The checks on what users hand in, as units: metadata JSON (NUL characters against the text \\u0000),
the metadata of a whole write encoded at once, and vectors checked a block at a time."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from pgsimilar import InvalidRecord, Record
from pgsimilar.config import Settings
from pgsimilar.core.types import Metric, Storage
from pgsimilar.core.validation import (
    _checked_vectors,
    _metadata_texts,
    check_records,
    check_vector,
    encodable,
    metadata_json,
)

# A backslash followed by u0000: six characters of text, which JSON writes as \\u0000.
LITERAL = "C:\\u0000dir"

ACCEPTED: list[dict[str, Any]] = [
    {"path": LITERAL},
    {LITERAL: 1},
    {"deep": {"list": [1, {"x": ["a", LITERAL]}]}},
    {"two backslashes, then u0000": "\\\\u0000"},
    {"a backslash at the end": "x\\", "then": "u0000"},
    {"escaped quote": '\\"\\u0000'},
    {"list element": ["a", "\\u0000", "b"]},  # the same text as a cut between values, but data
    {"unicode": "日本語 🎨 é", "control": "\t\n\x01\x1f", "numbers": [0, -1.5, 2**62, 1e300]},
    {"an emoji, escaped by JSON as a pair of surrogates": "\U0001f3a8", "the text \\ud800": "\\ud800"},
    {},
]

# Real NUL characters, anywhere: jsonb cannot store them.
WITH_NUL: list[dict[str, Any]] = [
    {"x": "\x00"},
    {"x": "nul\x00"},
    {"k\x00": 1},
    {"\x00": 1},
    {"deep": {"list": [1, {"x": ["a", "b\x00"]}]}},
    {"list element": ["a", "\x00", "b"]},
    {"a backslash, then a NUL": "\\\x00"},
    {"the text, then a NUL": LITERAL + "\x00"},
    {"keys": {"\x00k": [LITERAL]}},
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_metadata_json_accepts_the_text_backslash_u0000_and_writes_what_json_writes(
    value: dict[str, Any],
) -> None:
    assert metadata_json(value) == json.dumps(value)


@pytest.mark.parametrize("value", WITH_NUL)
def test_metadata_json_refuses_a_nul_character_wherever_it_is(value: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecord, match="NUL character"):
        metadata_json(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a"], "must be a JSON object, got list"),
        (None, "must be a JSON object, got NoneType"),
        ({"x": float("nan")}, "NaN"),
        ({"x": float("inf")}, "NaN and infinity"),
        ({"x": object()}, "not valid JSON"),
        ({"x": {1, 2}}, "not valid JSON"),
    ],
)
def test_metadata_json_refuses_what_is_not_json(value: object, message: str) -> None:
    with pytest.raises(InvalidRecord, match=message):
        metadata_json(value)


def test_metadata_nested_too_deeply_is_an_invalid_record() -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(InvalidRecord, match="nested too deeply"):
        metadata_json(deep)
    assert _metadata_texts([{}, deep]) is None


def test_metadata_texts_are_each_values_own_json() -> None:
    values = ACCEPTED * 3
    assert _metadata_texts(values) == [json.dumps(value) for value in values]
    assert _metadata_texts([]) == []
    assert _metadata_texts([{"only": LITERAL}]) == [json.dumps({"only": LITERAL})]


@pytest.mark.parametrize("value", [*WITH_NUL, {"x": float("nan")}, {"x": object()}])
def test_metadata_texts_send_the_caller_one_by_one_when_any_value_fails(value: dict[str, Any]) -> None:
    assert _metadata_texts([*ACCEPTED, value, *ACCEPTED]) is None


# Lone surrogates: a str can hold them (a bad decode leaves them), UTF-8 and so PostgreSQL cannot.
WITH_SURROGATE: list[dict[str, Any]] = [
    {"x": "\ud800"},
    {"x": "caf\udce9"},
    {"k\udfff": 1},
    {"deep": [{"x": ["ok", "\ude00\ud83d"]}]},  # a low surrogate before a high one is no pair
]


@pytest.mark.parametrize("value", WITH_SURROGATE)
def test_metadata_json_refuses_a_lone_surrogate_wherever_it_is(value: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecord, match="lone surrogate"):
        metadata_json(value)
    assert _metadata_texts([*ACCEPTED, value, *ACCEPTED]) is None


def test_encodable_tells_lone_surrogates_from_real_characters() -> None:
    assert encodable("plain") and encodable("日本語 🎨 é") and encodable("\\ud800")
    assert not encodable("\ud800") and not encodable("caf\udce9") and not encodable("\ude00\ud83d")


def _check(records: list[Record]) -> list[Any]:
    settings = Settings(database_url="postgresql://unused/db")
    return check_records(
        records, dimensions=3, metric=Metric.COSINE, storage=Storage.VECTOR, settings=settings
    )


def test_check_records_keeps_the_text_and_refuses_the_nul_naming_the_record() -> None:
    records = [Record(id=f"r{i}", metadata=ACCEPTED[i % len(ACCEPTED)], vector=[1, 0, i]) for i in range(50)]
    checked = _check(records)
    assert [record.metadata_json for record in checked] == [json.dumps(record.metadata) for record in records]
    for value in WITH_NUL:
        records[37].metadata = value
        with pytest.raises(
            InvalidRecord, match=r"^record 37 \(id 'r37'\): metadata contains a NUL character"
        ):
            _check(records)


def test_vectors_checked_a_block_at_a_time_match_the_one_by_one_check() -> None:
    rng = np.random.default_rng(3)
    float32 = list(rng.normal(size=(2500, 3)).astype(np.float32))
    vectors, passed = _checked_vectors(float32, 3, Metric.COSINE, Storage.VECTOR)
    assert passed == 2500 and vectors is not None
    assert all(kept is given for kept, given in zip(vectors, float32, strict=True))  # no copies
    lists = [[0.1, 2, -3.4e38], [1e-3, 0, 0], *[list(map(float, row)) for row in float32[:1500]]]
    vectors, passed = _checked_vectors(lists, 3, Metric.COSINE, Storage.VECTOR)
    assert passed == len(lists) and vectors is not None
    for kept, given in zip(vectors, lists, strict=True):
        assert kept.dtype == np.float32
        assert np.array_equal(kept, check_vector(given, 3, Metric.COSINE, Storage.VECTOR))


@pytest.mark.parametrize("bad_at", [0, 1023, 1024, 2047, 2499])
@pytest.mark.parametrize("as_float32", [True, False])
def test_block_checks_stop_at_the_first_bad_vector(bad_at: int, as_float32: bool) -> None:
    rows = np.random.default_rng(4).normal(size=(2500, 3)).astype(np.float32)
    rows[bad_at] = [0, 0, 0]  # no direction: cosine cannot use it
    values: list[Any] = list(rows) if as_float32 else rows.tolist()
    vectors, passed = _checked_vectors(values, 3, Metric.COSINE, Storage.VECTOR)
    assert passed == bad_at and vectors is not None and len(vectors) == bad_at
    assert all(np.array_equal(kept, row) for kept, row in zip(vectors, rows, strict=False))
    assert (
        _checked_vectors(values, 3, Metric.L2, Storage.VECTOR)[1] == 2500
    )  # a zero vector has an l2 distance


def test_ragged_or_mistyped_vectors_go_to_the_one_by_one_check() -> None:
    good = np.ones(3, dtype=np.float32)
    assert _checked_vectors([good, np.ones(4, dtype=np.float32)], 3, Metric.L2, Storage.VECTOR) == (None, 0)
    assert _checked_vectors([good, ["a", "b", "c"]], 3, Metric.L2, Storage.VECTOR) == (None, 0)
    assert _checked_vectors([good, [1.0, 2.0]], 3, Metric.L2, Storage.VECTOR) == (None, 0)
