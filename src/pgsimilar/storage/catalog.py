"""SQL of the catalogue: namespaces and collections."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ..core.types import CollectionInfo, IndexKind, IndexSettings, Metric, Quantization, Storage
from ..errors import CollectionExists, CollectionNotFound, NamespaceExists, NamespaceNotFound

SCHEMA = "pgsimilar"
_COLLECTION_COLUMNS = """
    id, namespace, name, table_name, embedder, embedder_options, dimensions, metric, storage,
    index_kind, index_options, created_at, text_language, quantization, search_defaults
"""


def _collection_from_row(row: dict[str, Any]) -> CollectionInfo:
    options = row["index_options"]
    return CollectionInfo(
        id=row["id"],
        namespace=row["namespace"],
        name=row["name"],
        table_name=row["table_name"],
        embedder=row["embedder"],
        embedder_options=row["embedder_options"],
        dimensions=row["dimensions"],
        metric=Metric(row["metric"]),
        storage=Storage(row["storage"]),
        index=IndexSettings(
            kind=IndexKind(row["index_kind"]),
            m=options.get("m"),
            ef_construction=options.get("ef_construction"),
            lists=options.get("lists"),
        ),
        created_at=row["created_at"],
        text_language=row["text_language"],
        quantization=Quantization(row["quantization"]),
        search_defaults=row["search_defaults"],
    )


def namespace_exists(conn: Connection[Any], namespace: str) -> bool:
    row = conn.execute("SELECT 1 FROM pgsimilar.namespaces WHERE name = %s", (namespace,)).fetchone()
    return row is not None


def require_namespace(conn: Connection[Any], namespace: str) -> None:
    if not namespace_exists(conn, namespace):
        raise NamespaceNotFound.named(namespace)


def create_namespace(conn: Connection[Any], namespace: str) -> None:
    try:
        with conn.transaction():
            conn.execute("INSERT INTO pgsimilar.namespaces (name) VALUES (%s)", (namespace,))
    except psycopg.errors.UniqueViolation as exc:
        raise NamespaceExists(f"namespace {namespace!r} exists already") from exc


def list_namespaces(conn: Connection[Any]) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM pgsimilar.namespaces ORDER BY name")]


def delete_namespace_row(conn: Connection[Any], namespace: str) -> None:
    conn.execute("DELETE FROM pgsimilar.namespaces WHERE name = %s", (namespace,))


def insert_collection(
    conn: Connection[Any],
    *,
    namespace: str,
    name: str,
    embedder: str,
    embedder_options: dict[str, Any],
    dimensions: int,
    metric: Metric,
    storage: Storage,
    index: IndexSettings,
    text_language: str,
    quantization: Quantization = Quantization.NONE,
) -> CollectionInfo:
    """Add the catalogue row; the table name is derived from the new row's id, so names never reach SQL."""
    require_namespace(conn, namespace)
    try:
        row = conn.execute(
            """
            INSERT INTO pgsimilar.collections
                (namespace, name, table_name, embedder, embedder_options, dimensions, metric, storage,
                 index_kind, index_options, text_language, quantization)
            VALUES (%(namespace)s, %(name)s, 'pending-' || gen_random_uuid(), %(embedder)s,
                    %(embedder_options)s, %(dimensions)s, %(metric)s, %(storage)s, %(index_kind)s,
                    %(index_options)s, %(text_language)s, %(quantization)s)
            RETURNING id
            """,
            {
                "namespace": namespace,
                "name": name,
                "embedder": embedder,
                "embedder_options": Jsonb(embedder_options),
                "dimensions": dimensions,
                "metric": metric.value,
                "storage": storage.value,
                "index_kind": index.kind.value,
                "index_options": Jsonb(index.to_options()),
                "text_language": text_language,
                "quantization": quantization.value,
            },
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise CollectionExists(
            f"collection {name!r} exists already in namespace {namespace!r}; drop it or choose another name"
        ) from exc
    assert row is not None
    collection_id = int(row[0])
    table_name = f"c{collection_id}_{name.replace('-', '_')}"[:63]
    conn.execute(
        "UPDATE pgsimilar.collections SET table_name = %s WHERE id = %s", (table_name, collection_id)
    )
    return get_collection(conn, namespace, name)


def get_collection(conn: Connection[Any], namespace: str, name: str) -> CollectionInfo:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_COLLECTION_COLUMNS} FROM pgsimilar.collections WHERE namespace = %s AND name = %s",  # noqa: S608
            (namespace, name),
        ).fetchone()
    if row is None:
        if not namespace_exists(conn, namespace):
            raise NamespaceNotFound.named(namespace)
        raise CollectionNotFound(f"collection {name!r} does not exist in namespace {namespace!r}")
    return _collection_from_row(row)


def list_collections(conn: Connection[Any], namespace: str | None = None) -> list[CollectionInfo]:
    if namespace is not None:
        require_namespace(conn, namespace)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLLECTION_COLUMNS} FROM pgsimilar.collections"  # noqa: S608
            " WHERE %(ns)s::text IS NULL OR namespace = %(ns)s ORDER BY namespace, name",
            {"ns": namespace},
        ).fetchall()
    return [_collection_from_row(row) for row in rows]


def text_search_configs(conn: Connection[Any]) -> list[str]:
    """The text-search languages the server knows (``english``, ``french``, ``simple``, ...)."""
    return [row[0] for row in conn.execute("SELECT cfgname FROM pg_ts_config ORDER BY cfgname")]


def record_counts(conn: Connection[Any]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for info in list_collections(conn):
        try:
            with conn.transaction():
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, info.table_name))
                row = conn.execute(query).fetchone()
        except psycopg.errors.UndefinedTable:  # dropped since the catalogue was read
            continue
        counts[(info.namespace, info.name)] = int(row[0]) if row else 0
    return counts


def set_index(conn: Connection[Any], collection_id: int, index: IndexSettings) -> None:
    """Record a collection's new index; search defaults tuned for the old one no longer hold."""
    conn.execute(
        "UPDATE pgsimilar.collections SET index_kind = %s, index_options = %s, search_defaults = '{}' "
        "WHERE id = %s",
        (index.kind.value, Jsonb(index.to_options()), collection_id),
    )


def set_search_defaults(conn: Connection[Any], collection_id: int, defaults: dict[str, int]) -> None:
    conn.execute(
        "UPDATE pgsimilar.collections SET search_defaults = %s WHERE id = %s",
        (Jsonb(defaults), collection_id),
    )


def delete_collection_row(conn: Connection[Any], collection_id: int) -> None:
    conn.execute("DELETE FROM pgsimilar.collections WHERE id = %s", (collection_id,))
