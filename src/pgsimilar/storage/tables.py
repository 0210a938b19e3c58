"""DDL of collection tables: one table per collection with a typed vector column, and its indexes."""

from __future__ import annotations

import math
from typing import Any

from psycopg import Connection, sql

from ..core.types import CollectionInfo, IndexKind, Metric, Storage

SCHEMA = "pgsimilar"

# pgvector's distance operator and operator-class suffix for each metric.
OPERATORS: dict[Metric, str] = {Metric.COSINE: "<=>", Metric.L2: "<->", Metric.INNER_PRODUCT: "<#>"}
_OPCLASS_SUFFIX: dict[Metric, str] = {Metric.COSINE: "cosine", Metric.L2: "l2", Metric.INNER_PRODUCT: "ip"}

# Most dimensions pgvector can index per storage type (its HNSW/IVFFlat page-size limits).
MAX_INDEXED_DIMENSIONS: dict[Storage, int] = {Storage.VECTOR: 2000, Storage.HALFVEC: 4000}
MAX_DIMENSIONS = 16_000

HNSW_DEFAULTS = {"m": 16, "ef_construction": 64}


def table(info: CollectionInfo) -> sql.Identifier:
    return sql.Identifier(SCHEMA, info.table_name)


def embedding_index_name(info: CollectionInfo) -> str:
    return f"c{info.id}_embedding_idx"


def vector_type(info: CollectionInfo) -> sql.Composable:
    return sql.SQL("{}({})").format(sql.SQL(info.storage.value), sql.Literal(info.dimensions))


def create_table(conn: Connection[Any], info: CollectionInfo) -> None:
    conn.execute(
        sql.SQL(
            """
            CREATE TABLE {table} (
                id text PRIMARY KEY,
                content text,
                metadata jsonb NOT NULL DEFAULT '{{}}',
                content_hash text,
                embedding {vector_type} NOT NULL,
                media_type text,
                image bytea,
                thumbnail bytea,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                {content_tsv}
            )
            """
        ).format(
            table=table(info),
            vector_type=vector_type(info),
            content_tsv=content_tsv_column(info.text_language),
        )
    )
    create_content_tsv_index(conn, info.table_name, info.id)
    conn.execute(
        sql.SQL("CREATE INDEX {name} ON {table} USING gin (metadata)").format(
            name=sql.Identifier(f"c{info.id}_metadata_idx"), table=table(info)
        )
    )
    if info.index.kind is IndexKind.HNSW:
        create_embedding_index(conn, info)
    # An IVFFlat index learns its lists from the rows present when it is built, so it is built after
    # the first load (see ensure_embedding_index), not on the empty table.


def content_tsv_column(language: str) -> sql.Composed:
    """The full-text column, kept up to date by PostgreSQL itself. ``language`` was checked against
    pg_ts_config; it is a literal because a generated column's expression takes no parameters."""
    return sql.SQL(
        "content_tsv tsvector GENERATED ALWAYS AS (to_tsvector({}::regconfig, coalesce(content, ''))) STORED"
    ).format(sql.Literal(language))


def create_content_tsv_index(conn: Connection[Any], table_name: str, collection_id: int) -> None:
    conn.execute(
        sql.SQL("CREATE INDEX {name} ON {table} USING gin (content_tsv)").format(
            name=sql.Identifier(f"c{collection_id}_content_tsv_idx"), table=sql.Identifier(SCHEMA, table_name)
        )
    )


def auto_lists(row_count: int) -> int:
    """pgvector's rule of thumb for IVFFlat lists: rows / 1000 up to 1M rows, sqrt(rows) beyond."""
    if row_count <= 1_000_000:
        return max(1, row_count // 1000)
    return int(math.sqrt(row_count))


def create_embedding_index(conn: Connection[Any], info: CollectionInfo, *, row_count: int = 0) -> None:
    opclass = sql.SQL(f"{info.storage.value}_{_OPCLASS_SUFFIX[info.metric]}_ops")
    name = sql.Identifier(embedding_index_name(info))
    if info.index.kind is IndexKind.HNSW:
        with_clause = sql.SQL("m = {}, ef_construction = {}").format(
            sql.Literal(info.index.m or HNSW_DEFAULTS["m"]),
            sql.Literal(info.index.ef_construction or HNSW_DEFAULTS["ef_construction"]),
        )
    elif info.index.kind is IndexKind.IVFFLAT:
        with_clause = sql.SQL("lists = {}").format(sql.Literal(info.index.lists or auto_lists(row_count)))
    else:
        return
    conn.execute(
        sql.SQL("CREATE INDEX {name} ON {table} USING {method} (embedding {opclass}) WITH ({params})").format(
            name=name,
            table=table(info),
            method=sql.SQL(info.index.kind.value),
            opclass=opclass,
            params=with_clause,
        )
    )


def embedding_index_exists(conn: Connection[Any], info: CollectionInfo) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
        (SCHEMA, embedding_index_name(info)),
    ).fetchone()
    return row is not None


def ensure_embedding_index(conn: Connection[Any], info: CollectionInfo) -> bool:
    """Build the collection's approximate index if it is missing and the table has rows. True if built."""
    if info.index.kind is IndexKind.NONE or embedding_index_exists(conn, info):
        return False
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table(info))).fetchone()
    row_count = int(row[0]) if row else 0
    if row_count == 0:
        return False
    create_embedding_index(conn, info, row_count=row_count)
    return True


def drop_embedding_index(conn: Connection[Any], info: CollectionInfo) -> None:
    conn.execute(
        sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(SCHEMA, embedding_index_name(info)))
    )


def drop_table(conn: Connection[Any], info: CollectionInfo) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table(info)))
