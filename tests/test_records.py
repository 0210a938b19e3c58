"""Writing, reading and deleting records; all-or-nothing writes; the content-hash skip."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from pgsimilar import (
    Client,
    Collection,
    DimensionMismatch,
    InvalidFilter,
    InvalidInput,
    InvalidRecord,
    InvalidVector,
    Record,
    RecordExists,
    RecordNotFound,
    UnsupportedModality,
)
from pgsimilar.embedders.base import Embedder, Vectors
from pgsimilar.storage import records as record_sql


@pytest.fixture
def vectors(client: Client, unique_name: str) -> Iterator[Collection]:
    collection = client.create_collection(unique_name, embedder="none", dimensions=3)
    yield collection
    client.drop_collection(unique_name)


class CountingEmbedder(Embedder):
    """The collection's real embedder, counting the texts it is asked to embed."""

    name = "counting"

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return self.inner.embed_texts(texts)


def test_upsert_embeds_text_and_stores_everything(text_collection: Collection) -> None:
    result = text_collection.upsert(
        [
            {"id": "pg", "text": "PostgreSQL is a relational database", "metadata": {"kind": "db"}},
            Record(id="cat", content="Cats sleep most of the day", metadata={"kind": "animal"}),
        ]
    )
    assert (result.inserted, result.updated, result.unchanged, result.embedded) == (2, 0, 0, 2)
    stored = text_collection.get("pg", include_vector=True)
    assert stored.content == "PostgreSQL is a relational database"
    assert stored.metadata == {"kind": "db"}
    assert stored.vector is not None and stored.vector.shape == (384,)
    assert math.isclose(float(np.linalg.norm(stored.vector)), 1.0, rel_tol=1e-5)
    assert stored.created_at is not None and stored.updated_at is not None
    assert text_collection.count() == 2


def test_upsert_is_idempotent_and_unchanged_content_is_not_embedded_again(
    text_collection: Collection,
) -> None:
    counting = CountingEmbedder(text_collection.embedder)
    text_collection.embedder = counting
    docs = [{"id": str(i), "text": f"document number {i} about topic {i % 3}"} for i in range(10)]
    first = text_collection.upsert(docs)
    before = {
        record.id: record
        for record in text_collection.get_many([d["id"] for d in docs], include_vectors=True)
    }
    assert (first.inserted, first.embedded, len(counting.texts)) == (10, 10, 10)

    again = text_collection.upsert(docs)
    assert (again.inserted, again.updated, again.unchanged, again.embedded) == (0, 0, 10, 0)
    assert len(counting.texts) == 10  # nothing sent to the model
    after = {
        record.id: record
        for record in text_collection.get_many([d["id"] for d in docs], include_vectors=True)
    }
    assert all(after[i].updated_at == before[i].updated_at for i in before)
    assert text_collection.count() == 10

    # Metadata-only change: the row is updated, the vector kept, nothing embedded.
    changed_meta = [{**docs[0], "metadata": {"reviewed": True}}]
    result = text_collection.upsert(changed_meta)
    assert (result.updated, result.embedded, len(counting.texts)) == (1, 0, 10)
    kept = text_collection.get("0", include_vector=True)
    assert kept.metadata == {"reviewed": True}
    assert np.array_equal(kept.vector, before["0"].vector)  # type: ignore[arg-type]

    # Content change: only that record is embedded again.
    result = text_collection.upsert([{"id": "1", "text": "a completely different text"}])
    assert (result.updated, result.embedded, counting.texts[-1]) == (1, 1, "a completely different text")
    assert not np.array_equal(text_collection.get("1", include_vector=True).vector, before["1"].vector)  # type: ignore[arg-type]


def test_add_refuses_existing_ids_and_writes_nothing(vectors: Collection) -> None:
    vectors.add([{"id": "a", "vector": [1, 0, 0]}])
    with pytest.raises(RecordExists, match="'a'"):
        vectors.add([{"id": "b", "vector": [0, 1, 0]}, {"id": "a", "vector": [0, 0, 1]}])
    assert vectors.count() == 1
    assert vectors.get("a", include_vector=True).vector.tolist() == [1, 0, 0]  # type: ignore[union-attr]


def test_precomputed_vectors_and_ids_derived_from_content(text_collection: Collection) -> None:
    own = np.full(384, 0.05, dtype=np.float32)
    result = text_collection.upsert(
        [{"id": "own", "text": "has its own vector", "vector": own}, {"text": "no id"}]
    )
    assert result.embedded == 1
    assert np.allclose(text_collection.get("own", include_vector=True).vector, own)  # type: ignore[arg-type]
    derived = [record.id for record in text_collection.get_many(["own"])] + [
        hit.id for hit in text_collection.search("no id", k=2) if hit.id != "own"
    ]
    assert len(derived[1]) == 32
    assert text_collection.upsert([{"text": "no id"}]).unchanged == 1  # same content, same id


def test_get_many_keeps_order_and_skips_missing(vectors: Collection) -> None:
    vectors.upsert([{"id": name, "vector": [1, n, 0]} for n, name in enumerate(("x", "y", "z"))])
    assert [record.id for record in vectors.get_many(["z", "missing", "nul\x00", "bad\udc80", "x"])] == [
        "z",
        "x",
    ]
    for missing in ("missing", "bad\udc80"):
        with pytest.raises(RecordNotFound):
            vectors.get(missing)
    assert vectors.delete(["bad\udc80"]) == 0


def test_delete_by_ids_and_by_filter(vectors: Collection) -> None:
    vectors.upsert(
        [{"id": str(i), "vector": [1, i, 0], "metadata": {"n": i, "even": i % 2 == 0}} for i in range(10)]
    )
    assert vectors.delete(["0", "1", "missing"]) == 2
    assert vectors.delete(filter={"even": True}) == 4
    assert vectors.count() == 4
    assert vectors.count({"n": {"$gte": 7}}) == 2
    with pytest.raises(InvalidInput):
        vectors.delete()
    with pytest.raises(InvalidFilter):
        vectors.delete(filter={"n": {"$regex": "."}})
    assert vectors.count() == 4
    assert vectors.delete(filter={}) == 4


BAD_RECORDS = [
    ({"id": "v", "vector": [1, 2]}, DimensionMismatch, "2 dimensions"),
    ({"id": "v", "vector": [1, float("nan"), 0]}, InvalidVector, "NaN"),
    ({"id": "v", "vector": [1, float("inf"), 0]}, InvalidVector, "infinity"),
    ({"id": "v", "vector": [0, 0, 0]}, InvalidVector, "zero vector"),
    ({"id": "v", "vector": ["a", "b", "c"]}, InvalidVector, "numbers"),
    ({"id": "v", "vector": [[1, 2, 3]]}, InvalidVector, "flat"),
    ({"id": "", "vector": [1, 0, 0]}, InvalidRecord, "id"),
    ({"id": "x" * 600, "vector": [1, 0, 0]}, InvalidRecord, "longer"),
    ({"id": 7, "vector": [1, 0, 0]}, InvalidRecord, "id"),
    ({"vector": [1, 0, 0]}, InvalidRecord, "needs an id"),
    ({"id": "v"}, InvalidRecord, "content or an image to embed, or a vector"),
    ({"id": "v", "vector": [1, 0, 0], "metadata": ["a"]}, InvalidRecord, "JSON object"),
    ({"id": "v", "vector": [1, 0, 0], "metadata": {"x": float("nan")}}, InvalidRecord, "NaN"),
    ({"id": "v", "vector": [1, 0, 0], "metadata": {"x": object()}}, InvalidRecord, "not valid JSON"),
    ({"id": "v", "vector": [1, 0, 0], "metadata": {"x": "nul\x00"}}, InvalidRecord, "NUL"),
    # Lone surrogates (what a bad decode with errors="surrogateescape" leaves): no UTF-8 for PostgreSQL.
    ({"id": "v\udc80", "vector": [1, 0, 0]}, InvalidRecord, "id is not valid Unicode"),
    ({"id": "v", "vector": [1, 0, 0], "metadata": {"x": "\ud800"}}, InvalidRecord, "surrogate"),
    ({"id": "v", "vector": [1, 0, 0], "metadata": {"k\udfff": 1}}, InvalidRecord, "surrogate"),
    ({"id": "v", "vector": [1, 0, 0], "metadata": {"x": ["\ude00\ud83d"]}}, InvalidRecord, "surrogate"),
    ({"id": "v", "vector": [1, 0, 0], "colour": "red"}, InvalidRecord, "unknown record fields"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_RECORDS)
def test_a_bad_record_fails_the_whole_write(
    vectors: Collection, bad: dict[str, object], error: type, message: str
) -> None:
    vectors.upsert([{"id": "keep", "vector": [1, 1, 1]}])
    batch = [{"id": "new", "vector": [0, 1, 0]}, {"id": "keep", "vector": [0, 0, 1]}, bad]
    with pytest.raises(error, match=message) as caught:
        vectors.upsert(batch)
    assert "record 2" in str(caught.value)
    assert vectors.count() == 1
    assert vectors.get("keep", include_vector=True).vector.tolist() == [1, 1, 1]  # type: ignore[union-attr]


def test_text_problems(text_collection: Collection, client: Client) -> None:
    with pytest.raises(InvalidRecord, match="empty"):
        text_collection.upsert([{"id": "a", "text": "   "}])
    with pytest.raises(InvalidRecord, match="PGSIMILAR_MAX_CONTENT_CHARS"):
        text_collection.upsert([{"id": "a", "text": "x" * (client.settings.max_content_chars + 1)}])
    with pytest.raises(InvalidRecord, match="NUL"):
        text_collection.upsert([{"id": "a", "text": "a\x00b"}])
    with pytest.raises(InvalidRecord, match="content is not valid Unicode text: it holds a lone surrogate"):
        text_collection.upsert([{"id": "a", "text": "caf\udce9"}])
    with pytest.raises(InvalidRecord, match="twice"):
        text_collection.upsert([{"id": "a", "text": "one"}, {"id": "a", "text": "two"}])
    with pytest.raises(InvalidRecord, match="content must be a string"):
        text_collection.upsert([{"id": "a", "text": 42}])
    assert text_collection.count() == 0


def test_text_in_a_bring_your_own_vectors_collection(vectors: Collection) -> None:
    with pytest.raises(UnsupportedModality, match="vector"):
        vectors.upsert([{"id": "a", "text": "needs a model"}])
    assert vectors.count() == 0


def test_injection_attempts_in_ids_and_metadata_are_data(vectors: Collection) -> None:
    nasty = "x'); DROP TABLE collections; --"  # no dot: dots in filter keys are paths
    vectors.upsert([{"id": nasty, "vector": [1, 0, 0], "metadata": {nasty: nasty, "q": 'a"b\\c'}}])
    stored = vectors.get(nasty)
    assert stored.metadata == {nasty: nasty, "q": 'a"b\\c'}
    assert vectors.count({nasty: nasty}) == 1


def test_content_changed_between_hash_read_and_write_is_embedded_in_the_transaction(
    client: Client, text_collection: Collection
) -> None:
    """The race the row locks guard: a staged row without a vector whose stored content moved on."""
    text_collection.upsert([{"id": "r", "text": "original text"}])
    info = text_collection.info
    staged = record_sql.StagedRecord(
        id="r", content="new text", metadata_json="{}", content_hash="not-the-stored-hash", vector=None
    )
    asked: list[list[str]] = []

    def embed_late(ids: list[str]) -> dict[str, np.ndarray]:
        asked.append(ids)
        return {record_id: text_collection.embedder.embed_texts(["new text"])[0] for record_id in ids}

    with client.database.connection() as conn, conn.transaction():
        counts = record_sql.write_records(conn, info, [staged], replace=True, embed_late=embed_late)
    assert asked == [["r"]] and counts.updated == 1
    expected = text_collection.embedder.embed_texts(["new text"])[0]
    assert np.allclose(text_collection.get("r", include_vector=True).vector, expected, atol=1e-6)  # type: ignore[arg-type]


# ---- large writes: checked as a whole, written by the project's own binary COPY encoder ---------------


def _many(count: int, dimensions: int = 3) -> list[Record]:
    rng = np.random.default_rng(5)
    points = rng.normal(size=(count, dimensions)).astype(np.float32)
    return [Record(id=f"r{i}", metadata={"n": i}, vector=points[i]) for i in range(count)]


@pytest.mark.parametrize(
    ("problems", "error", "named"),
    [
        ({1200: {"vector": np.array([1, np.nan, 0], dtype=np.float32)}}, InvalidVector, "record 1200"),
        (
            {700: {"metadata": {"x": float("inf")}}, 1200: {"vector": np.zeros(3, dtype=np.float32)}},
            InvalidRecord,
            "record 700",
        ),
        (
            {900: {"vector": np.array([1, 2, 3, 4], dtype=np.float32)}, 1000: {"metadata": {"x": "\x00"}}},
            DimensionMismatch,
            "record 900",
        ),
        ({1100: {"vector": [1.0, 1e39, 0.0]}, 1300: {"id": "r0"}}, InvalidVector, "record 1100"),
        ({1300: {"id": "r0"}, 1400: {"vector": [1.0, 1e39, 0.0]}}, InvalidRecord, "record 1300"),
    ],
)
def test_a_large_write_names_its_first_bad_record_and_writes_nothing(
    vectors: Collection, problems: dict[int, dict[str, object]], error: type, named: str
) -> None:
    records = _many(1500)
    for position, changes in problems.items():
        for field_name, value in changes.items():
            setattr(records[position], field_name, value)
    with pytest.raises(error) as caught:
        vectors.upsert(records)
    assert str(caught.value).startswith(named + " ")
    assert vectors.count() == 0


def test_a_bad_mapping_is_reported_after_the_records_before_it(vectors: Collection) -> None:
    batch: list[object] = [{"id": "a", "vector": [1, 0, 0]}, {"id": "b", "vector": [0, 0, 0]}, "not a record"]
    with pytest.raises(InvalidVector, match=r"record 1 .*zero vector"):
        vectors.upsert(batch)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match="record 1: expected a Record or a mapping"):
        vectors.upsert(batch[:1] + batch[2:] + batch[1:2])  # type: ignore[arg-type]
    assert vectors.count() == 0


def test_vectors_of_every_kind_are_stored_exactly_as_float32(vectors: Collection) -> None:
    given: list[object] = [
        np.array([0.1, 0.2, 0.3], dtype=np.float32),
        np.array([0.1, 0.2, 0.3], dtype=np.float64),
        [0.1, 0.2, 0.3],
        (1, 2, 3),
        ["0.5", "1e-3", "7"],
        np.array([1, 2, 3], dtype=np.int64),
        np.array([3.4e38, -3.4e38, 1.0]),
    ]
    vectors.upsert([{"id": str(i), "vector": vector} for i, vector in enumerate(given)])
    for i, vector in enumerate(given):
        expected = np.asarray(vector, dtype=np.float64).astype(np.float32)
        assert np.array_equal(vectors.get(str(i), include_vector=True).vector, expected)  # type: ignore[arg-type]
    with pytest.raises(InvalidVector, match=r"record 1 .*within"):
        vectors.upsert([{"id": "ok", "vector": [1, 0, 0]}, {"id": "big", "vector": [3.5e38, 0, 0]}])


def test_halfvec_vectors_go_through_copy_as_float16(client: Client, unique_name: str) -> None:
    collection = client.create_collection(
        unique_name, embedder="none", dimensions=4, storage="halfvec", index="none"
    )
    try:
        points = np.array([[0.1, -2.5, 65504, 1e-3], [1, 2, 3, 4]], dtype=np.float32)
        collection.upsert([Record(id=str(i), vector=point) for i, point in enumerate(points)])
        for i, point in enumerate(points):
            stored = collection.get(str(i), include_vector=True).vector
            assert np.array_equal(stored, point.astype(np.float16).astype(np.float32))  # type: ignore[arg-type]
        with pytest.raises(InvalidVector, match=r"record 0 .*65504"):
            collection.upsert([Record(id="big", vector=np.array([65505, 0, 0, 0], dtype=np.float32))])
        assert collection.count() == 2
    finally:
        client.drop_collection(unique_name)


def test_text_and_metadata_survive_the_binary_copy(vectors: Collection) -> None:
    metadata = {
        "ünïcödé": "日本語 🎨",
        "nested": {"list": [1, 2.5, None, True, "x\ty\nz\\"], "empty": {}},
        "big": 2**62,
        "quote": 'a"b',
    }
    records = [Record(id=f"é-{i}-🙂", metadata={**metadata, "i": i}, vector=[1, i, 0]) for i in range(1200)]
    assert vectors.upsert(records).inserted == 1200
    stored = vectors.get("é-7-🙂")
    assert stored.metadata == {**metadata, "i": 7}
    assert vectors.count({"ünïcödé": "日本語 🎨"}) == 1200
    # A second write of the same ids is the ordinary path, with its look-up of the stored ids.
    again = vectors.upsert(records)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1200)
    with pytest.raises(RecordExists):
        vectors.add([*records[:1000], Record(id="fresh", vector=[1, 1, 1])])
    assert vectors.count() == 1200


def test_a_large_first_load_stores_everything_and_analyzes_the_filtered_columns(
    client: Client, vectors: Collection
) -> None:
    from pgsimilar.core.bulk import BULK_LOAD_MIN_RECORDS

    records = _many(BULK_LOAD_MIN_RECORDS)
    assert vectors.upsert(records).inserted == len(records)
    assert vectors.count({"n": {"$lt": 10}}) == 10
    assert np.array_equal(vectors.get("r9999", include_vector=True).vector, records[-1].vector)  # type: ignore[arg-type]
    with client.database.connection() as conn:
        analyzed = {
            row[0]
            for row in conn.execute(
                "SELECT attname FROM pg_stats WHERE schemaname = 'pgsimilar' AND tablename = %s",
                (vectors.info.table_name,),
            ).fetchall()
        }
        tuples = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
            (f"pgsimilar.{vectors.info.table_name}",),
        ).fetchone()
    assert {"id", "metadata"} <= analyzed and "embedding" not in analyzed
    assert tuples is not None and tuples[0] == len(records)


# ---- metadata: NUL characters refused, the text \u0000 (a backslash, then u0000) kept ----------------------

LITERAL_NUL_TEXT = "C:\\u0000dir"  # six characters of text after "C:", not a NUL: JSON writes it \\u0000


def test_the_text_backslash_u0000_is_stored_and_read_back_exactly(vectors: Collection) -> None:
    metadata = {
        "path": LITERAL_NUL_TEXT,
        LITERAL_NUL_TEXT: ["\\u0000", "\\\\u0000", {"deep": "x\\u0000y"}],
        "escaped quote": '\\"\\u0000',
    }
    vectors.upsert([Record(id="one", metadata=metadata, vector=[1, 0, 0])])
    assert vectors.get("one").metadata == metadata
    # Over a thousand records: the COPY streams in blocks.
    records = [Record(id=f"r{i}", metadata={**metadata, "i": i}, vector=[1, i, 0]) for i in range(1500)]
    assert vectors.upsert(records).inserted == 1500
    assert vectors.get("r1499").metadata == {**metadata, "i": 1499}
    assert vectors.count({"path": LITERAL_NUL_TEXT}) == 1501
    again = vectors.upsert(records)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1500)


@pytest.mark.parametrize(
    "metadata",
    [
        {"x": "nul\x00"},
        {"k\x00": 1},
        {"deep": {"list": [1, {"x": ["a", "b\x00"]}]}},
        {"list": ["a", "\x00", "b"]},
        {"a backslash, then a NUL": "\\\x00"},
        {"text and a NUL": LITERAL_NUL_TEXT + "\x00"},
    ],
)
def test_a_nul_character_anywhere_in_metadata_refuses_the_whole_write(
    vectors: Collection, metadata: dict[str, object]
) -> None:
    vectors.upsert([{"id": "keep", "vector": [1, 1, 1], "metadata": {"path": LITERAL_NUL_TEXT}}])
    batch = [{"id": "new", "vector": [0, 1, 0], "metadata": {"path": LITERAL_NUL_TEXT}}]
    with pytest.raises(InvalidRecord, match=r"^record 1 \(id 'bad'\): metadata contains a NUL character"):
        vectors.upsert([*batch, {"id": "bad", "vector": [0, 0, 1], "metadata": metadata}])
    assert vectors.count() == 1


def test_a_large_first_load_refuses_a_nul_and_keeps_the_text_backslash_u0000(vectors: Collection) -> None:
    from pgsimilar.core.bulk import BULK_LOAD_MIN_RECORDS

    records = _many(BULK_LOAD_MIN_RECORDS)
    records[9000].metadata = {"path": {"dir": "C:\x00dir"}}
    with pytest.raises(InvalidRecord, match=r"^record 9000 \(id 'r9000'\): metadata contains a NUL"):
        vectors.upsert(records)
    assert vectors.count() == 0
    records[9000].metadata = {"path": {"dir": LITERAL_NUL_TEXT}}
    assert vectors.upsert(records).inserted == len(records)
    assert vectors.get("r9000").metadata == {"path": {"dir": LITERAL_NUL_TEXT}}
    assert vectors.get("r8999").metadata == {"n": 8999}


# ---- the COPY stream: a failure while it is sent leaves nothing, and the connection usable ---------------


def _staged_rows(count: int) -> list[record_sql.StagedRecord]:
    rng = np.random.default_rng(8)
    points = rng.normal(size=(count, 3)).astype(np.float32)
    return [
        record_sql.StagedRecord(
            id=f"s{i}", content=None, metadata_json='{"n": 1}', content_hash=None, vector=p
        )
        for i, p in enumerate(points)
    ]


def test_a_row_that_cannot_be_encoded_mid_stream_rolls_the_copy_back(
    client: Client, vectors: Collection
) -> None:
    rows = _staged_rows(2500)
    rows[1500].id = "lone surrogate \ud800"  # no UTF-8 for it: fails while earlier blocks are on their way
    with client.database.connection() as conn:
        with pytest.raises(UnicodeEncodeError), conn.transaction():
            record_sql.copy_into_table(conn, vectors.info, rows)
        assert not record_sql.is_populated(conn, vectors.info)
    assert vectors.count() == 0


def test_a_row_the_server_refuses_mid_stream_rolls_the_copy_back(client: Client, vectors: Collection) -> None:
    import psycopg

    rows = _staged_rows(2500)
    rows[1500].metadata_json = '{"unfinished": '  # refused by the server, after earlier blocks are stored
    with client.database.connection() as conn:
        with pytest.raises(psycopg.DataError), conn.transaction():
            record_sql.copy_into_table(conn, vectors.info, rows)
        assert not record_sql.is_populated(conn, vectors.info)
    assert vectors.count() == 0
    assert vectors.upsert([Record(id="after", vector=[1, 0, 0])]).inserted == 1
