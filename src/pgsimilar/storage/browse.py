"""SQL for looking around a collection without a query: its records in id order, and the fields and
common values of their metadata."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from ..core.types import CollectionInfo
from .tables import table


def list_records(
    conn: Connection[Any], info: CollectionInfo, *, limit: int, after: str | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` records ordered by id, starting after the id ``after`` (keyset paging: the
    primary-key index serves it at any depth, unlike OFFSET)."""
    statement = sql.SQL(
        """SELECT id, content, metadata, image IS NOT NULL AS has_image, created_at, updated_at
FROM {table}
WHERE %(after)s::text IS NULL OR id > %(after)s::text
ORDER BY id
LIMIT %(limit)s"""
    ).format(table=table(info))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(statement, {"after": after, "limit": limit}).fetchall()


def metadata_fields(
    conn: Connection[Any], info: CollectionInfo, *, sample: int, max_values: int
) -> list[dict[str, Any]]:
    """One row per top-level metadata key and JSON type among the first ``sample`` records: how many
    records hold it, how many distinct values it takes, the range of numbers, and the ``max_values``
    most common strings and booleans as ``[[value, count], ...]``. ``sampled`` is repeated on each row."""
    statement = sql.SQL(
        """WITH sample AS MATERIALIZED (SELECT metadata FROM {table} LIMIT %(sample)s),
pairs AS (
    SELECT e.key, jsonb_typeof(e.value) AS kind, e.value
    FROM sample CROSS JOIN LATERAL jsonb_each(sample.metadata) AS e
),
fields AS (
    SELECT key, kind, count(*) AS records, count(DISTINCT value) AS distinct_values,
           min(CASE WHEN kind = 'number' THEN value::numeric END) AS low,
           max(CASE WHEN kind = 'number' THEN value::numeric END) AS high
    FROM pairs GROUP BY key, kind
),
counted AS (
    SELECT key, kind, value, count(*) AS records,
           row_number() OVER (PARTITION BY key, kind ORDER BY count(*) DESC, value) AS position
    FROM pairs WHERE kind IN ('string', 'boolean') GROUP BY key, kind, value
),
common AS (
    SELECT key, kind, jsonb_agg(jsonb_build_array(value, records) ORDER BY position) AS top_values
    FROM counted WHERE position <= %(max_values)s GROUP BY key, kind
)
SELECT f.key, f.kind, f.records, f.distinct_values, f.low, f.high, c.top_values,
       (SELECT count(*) FROM sample) AS sampled
FROM fields f LEFT JOIN common c USING (key, kind)
ORDER BY f.key, f.kind"""
    ).format(table=table(info))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(statement, {"sample": sample, "max_values": max_values}).fetchall()
