"""Namespaces and collections: create, get, list, drop, and what is refused."""

from __future__ import annotations

import psycopg
import pytest

from pgsimilar import (
    Client,
    CollectionExists,
    CollectionNotFound,
    DimensionMismatch,
    IndexKind,
    InvalidInput,
    InvalidName,
    Metric,
    NamespaceExists,
    NamespaceNotFound,
    Storage,
)


def _columns(client: Client, table: str) -> dict[str, str]:
    with client.database.connection() as conn:
        rows = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (f"pgsimilar.{table}",),
        ).fetchall()
    return dict(rows)


def _indexes(client: Client, table: str) -> str:
    with client.database.connection() as conn:
        rows = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgsimilar' AND tablename = %s", (table,)
        ).fetchall()
    return "\n".join(row[0] for row in rows)


def test_a_collection_is_a_table_with_a_typed_vector_column_and_indexes(
    client: Client, unique_name: str
) -> None:
    collection = client.create_collection(unique_name, metric="l2", m=8, ef_construction=32)
    try:
        info = collection.info
        assert (info.embedder, info.dimensions, info.metric, info.storage) == (
            "minilm",
            384,
            Metric.L2,
            Storage.VECTOR,
        )
        assert (info.index.kind, info.index.m, info.index.ef_construction) == (IndexKind.HNSW, 8, 32)
        columns = _columns(client, info.table_name)
        assert columns["id"] == "text" and columns["embedding"] == "vector(384)"
        assert columns["metadata"] == "jsonb" and columns["content_hash"] == "text"
        assert {"content", "created_at", "updated_at"} <= set(columns)
        indexes = _indexes(client, info.table_name)
        assert "USING gin (metadata)" in indexes
        assert "USING hnsw (embedding vector_l2_ops) WITH (m='8', ef_construction='32')" in indexes
        assert client.get_collection(unique_name).info == info
        assert info in client.list_collections("default")
    finally:
        client.drop_collection(unique_name)
    with client.database.connection() as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f"pgsimilar.{info.table_name}",)).fetchone() == (None,)


def test_bring_your_own_vectors_with_halfvec_storage(client: Client, unique_name: str) -> None:
    collection = client.create_collection(
        unique_name, embedder="none", dimensions=3000, storage="halfvec", metric="inner_product"
    )
    try:
        assert collection.dimensions == 3000
        assert _columns(client, collection.info.table_name)["embedding"] == "halfvec(3000)"
        assert "halfvec_ip_ops" in _indexes(client, collection.info.table_name)
    finally:
        client.drop_collection(unique_name)


def test_dimensions_beyond_the_index_limit_need_halfvec(client: Client, unique_name: str) -> None:
    with pytest.raises(InvalidInput, match="halfvec"):
        client.create_collection(unique_name, embedder="none", dimensions=3000)
    with pytest.raises(CollectionNotFound):
        client.get_collection(unique_name)


def test_invalid_choices_are_refused_before_anything_is_created(client: Client, unique_name: str) -> None:
    with pytest.raises(InvalidInput, match="metric"):
        client.create_collection(unique_name, metric="hamming")
    with pytest.raises(InvalidInput, match="storage"):
        client.create_collection(unique_name, storage="float64")
    with pytest.raises(InvalidInput, match="index"):
        client.create_collection(unique_name, index="btree")
    with pytest.raises(InvalidInput, match="ef_construction"):
        client.create_collection(unique_name, m=32, ef_construction=40)
    with pytest.raises(InvalidInput, match="lists"):
        client.create_collection(unique_name, index="hnsw", lists=10)
    with pytest.raises(InvalidInput, match="unknown embedder"):
        client.create_collection(unique_name, embedder="word2vec")
    with pytest.raises(InvalidInput, match="dimensions"):
        client.create_collection(unique_name, embedder="none")
    with pytest.raises(DimensionMismatch, match="384"):
        client.create_collection(unique_name, dimensions=512)
    assert unique_name not in {info.name for info in client.list_collections()}


@pytest.mark.parametrize(
    "name",
    ["", "Upper", "with space", "x" * 64, "-leading", "a;DROP TABLE pgsimilar.collections;--", 'q"uote', "é"],
)
def test_names_outside_the_allowed_form_are_refused(client: Client, name: str) -> None:
    with pytest.raises(InvalidName):
        client.create_collection(name)
    with pytest.raises(InvalidName):
        client.create_namespace(name)


def test_duplicate_names(client: Client, unique_name: str) -> None:
    client.create_collection(unique_name, embedder="none", dimensions=4)
    try:
        with pytest.raises(CollectionExists):
            client.create_collection(unique_name, embedder="none", dimensions=4)
        again = client.create_collection(unique_name, embedder="none", dimensions=4, exist_ok=True)
        assert again.dimensions == 4
        with pytest.raises(CollectionExists, match="exists with"):
            client.create_collection(unique_name, embedder="none", dimensions=5, exist_ok=True)
    finally:
        client.drop_collection(unique_name)


def test_namespaces_hold_their_own_collections(client: Client, unique_name: str) -> None:
    client.create_namespace(unique_name)
    with pytest.raises(NamespaceExists):
        client.create_namespace(unique_name)
    ours = client.create_collection("docs", namespace=unique_name, embedder="none", dimensions=2)
    assert ours.namespace == unique_name
    assert [info.name for info in client.list_collections(unique_name)] == ["docs"]
    with pytest.raises(InvalidInput, match="cascade"):
        client.drop_namespace(unique_name)
    client.drop_namespace(unique_name, cascade=True)
    assert unique_name not in client.list_namespaces()
    with pytest.raises(NamespaceNotFound):
        client.get_collection("docs", namespace=unique_name)
    with pytest.raises(NamespaceNotFound):
        client.create_collection("docs", namespace=unique_name, embedder="none", dimensions=2)
    with pytest.raises(InvalidInput):
        client.drop_namespace("default")


def test_unknown_collection(client: Client) -> None:
    with pytest.raises(CollectionNotFound, match="does not exist"):
        client.get_collection("no-such-collection")
    with pytest.raises(CollectionNotFound):
        client.drop_collection("no-such-collection")
    assert client.drop_collection("no-such-collection", missing_ok=True) is False


def test_a_failed_create_leaves_no_catalogue_row(client: Client, unique_name: str) -> None:
    """The catalogue row and the table are made in one transaction: a table in the way rolls both back."""
    with client.database.connection() as conn:
        taken = conn.execute(
            "SELECT nextval(pg_get_serial_sequence('pgsimilar.collections', 'id'))"
        ).fetchone()
    assert taken is not None
    blocker = f"c{taken[0] + 1}_{unique_name}"  # the table name the next collection will get
    with client.database.connection() as conn:
        conn.execute(f'CREATE TABLE pgsimilar."{blocker}" (x int)')
    try:
        with pytest.raises(psycopg.errors.DuplicateTable):
            client.create_collection(unique_name, embedder="none", dimensions=2)
        with pytest.raises(CollectionNotFound):
            client.get_collection(unique_name)
    finally:
        with client.database.connection() as conn:
            conn.execute(f'DROP TABLE IF EXISTS pgsimilar."{blocker}"')
