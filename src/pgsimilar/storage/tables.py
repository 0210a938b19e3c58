"""DDL of collection tables: one table per collection with a typed vector column, its metadata and
full-text indexes (the approximate index is in :mod:`.indexes`)."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql

from ..core.types import CollectionInfo, Metric

SCHEMA = "pgsimilar"

# pgvector's distance operator for each metric.
OPERATORS: dict[Metric, str] = {Metric.COSINE: "<=>", Metric.L2: "<->", Metric.INNER_PRODUCT: "<#>"}
MAX_DIMENSIONS = 16_000


def table(info: CollectionInfo) -> sql.Identifier:
    return sql.Identifier(SCHEMA, info.table_name)


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
    # The approximate index is made by the caller (storage.indexes): HNSW at once, IVFFlat after the
    # first load, since it learns its lists from the rows.


def content_tsv_column(language: str) -> sql.Composed:
    """The full-text column, kept up to date by PostgreSQL itself. ``language`` was checked against
    pg_ts_config; it is a literal because a generated column's expression takes no parameters."""
    return sql.SQL(
        "content_tsv tsvector GENERATED ALWAYS AS (to_tsvector({}::regconfig, coalesce(content, ''))) STORED"
    ).format(sql.Literal(language))


HAS_CONTENT = sql.SQL("content IS NOT NULL")
"""The full-text index's predicate, which keyword searches state so that the planner may use it."""


def create_content_tsv_index(
    conn: Connection[Any], table_name: str, collection_id: int, *, only_with_content: bool = True
) -> None:
    """The GIN index of ``content_tsv``, over the records that have content: records of vectors or
    pictures alone are never found by words, and leaving them out of the index saves their load the
    upkeep of an empty entry each (0.2-0.4 s of 3.3-4.1 s for a COPY of 100,000 such records)."""
    conn.execute(
        sql.SQL("CREATE INDEX {name} ON {table} USING gin (content_tsv){where}").format(
            name=sql.Identifier(f"c{collection_id}_content_tsv_idx"),
            table=sql.Identifier(SCHEMA, table_name),
            where=sql.SQL(" WHERE ") + HAS_CONTENT if only_with_content else sql.SQL(""),
        )
    )


def drop_table(conn: Connection[Any], info: CollectionInfo) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table(info)))
