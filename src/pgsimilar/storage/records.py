"""SQL of records: binary COPY into a staging table, one INSERT ... ON CONFLICT, reads, deletes, counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pgvector import HalfVector
from psycopg import Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ..core.filters import CompiledFilter
from ..core.types import CollectionInfo, Record, Storage
from .tables import table, vector_type

_STAGING = sql.Identifier("pgsimilar_staging")


@dataclass
class StagedRecord:
    """A validated record ready to write; ``vector`` None means "keep the stored one" (content unchanged)."""

    id: str
    content: str | None
    metadata: dict[str, Any]
    content_hash: str | None
    vector: npt.NDArray[np.float32] | None
    media_type: str | None = None
    image: bytes | None = None
    thumbnail: bytes | None = None


@dataclass(frozen=True)
class WriteCounts:
    inserted: int
    updated: int


def to_db_vector(info: CollectionInfo, vector: npt.NDArray[np.float32]) -> Any:
    """The value to bind for ``vector``: pgvector's binary adapter picks the column's type from it."""
    return HalfVector(vector) if info.storage is Storage.HALFVEC else vector


def stored_hashes(conn: Connection[Any], info: CollectionInfo, ids: Sequence[str]) -> dict[str, str | None]:
    """``{id: content_hash}`` of the given ids that are stored."""
    rows = conn.execute(
        sql.SQL("SELECT id, content_hash FROM {} WHERE id = ANY(%s)").format(table(info)), (list(ids),)
    ).fetchall()
    return {row[0]: row[1] for row in rows}


_COLUMNS = sql.SQL("id, content, metadata, content_hash, embedding, media_type, image, thumbnail")


def _copy_rows(
    conn: Connection[Any], info: CollectionInfo, target: sql.Composable, records: Sequence[StagedRecord]
) -> None:
    """Binary COPY of ``records`` into ``target``'s write columns, in one stream."""
    with conn.cursor() as cur:
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(target, _COLUMNS)
        with cur.copy(copy_sql) as copy:
            copy.set_types(["text", "text", "jsonb", "text", info.storage.value, "text", "bytea", "bytea"])
            for record in records:
                vector = None if record.vector is None else to_db_vector(info, record.vector)
                copy.write_row(
                    (
                        record.id,
                        record.content,
                        Jsonb(record.metadata),
                        record.content_hash,
                        vector,
                        record.media_type,
                        record.image,
                        record.thumbnail,
                    )
                )


def _copy_to_staging(conn: Connection[Any], info: CollectionInfo, records: Sequence[StagedRecord]) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {staging} (id text, content text, metadata jsonb, content_hash text, "
            "embedding {vector_type}, media_type text, image bytea, thumbnail bytea) ON COMMIT DROP"
        ).format(staging=_STAGING, vector_type=vector_type(info))
    )
    _copy_rows(conn, info, _STAGING, records)


def lock_if_empty(conn: Connection[Any], info: CollectionInfo) -> bool:
    """In the caller's transaction: lock the table against other writers (readers go on) and say whether
    it is empty, which then stays true until the transaction ends."""
    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table(info)))
    return not is_populated(conn, info)


def is_populated(conn: Connection[Any], info: CollectionInfo) -> bool:
    row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(table(info))).fetchone()
    return bool(row and row[0])


def copy_into_table(conn: Connection[Any], info: CollectionInfo, records: Sequence[StagedRecord]) -> None:
    """Binary COPY straight into the (empty, locked) table: no staging, no conflict handling. Every
    record must carry its vector and ids must be unique."""
    _copy_rows(conn, info, table(info), records)


def analyze(conn: Connection[Any], info: CollectionInfo) -> None:
    """Fresh planner statistics after a large write (autovacuum would get there later)."""
    conn.execute(sql.SQL("ANALYZE {}").format(table(info)))


def _changed_since_read(conn: Connection[Any], info: CollectionInfo) -> list[str]:
    """Ids staged without a vector whose stored content changed (or vanished) since the hashes were read.

    The stored rows are locked first, so what this returns stays true until the transaction ends.
    """
    conn.execute(
        sql.SQL(
            "SELECT id FROM {table} WHERE id IN (SELECT id FROM {staging} WHERE embedding IS NULL) FOR UPDATE"
        ).format(table=table(info), staging=_STAGING)
    )
    rows = conn.execute(
        sql.SQL(
            """
            SELECT s.id FROM {staging} s LEFT JOIN {table} t ON t.id = s.id
            WHERE s.embedding IS NULL AND (t.id IS NULL OR t.content_hash IS DISTINCT FROM s.content_hash)
            """
        ).format(table=table(info), staging=_STAGING)
    ).fetchall()
    return [row[0] for row in rows]


def write_records(
    conn: Connection[Any],
    info: CollectionInfo,
    records: Sequence[StagedRecord],
    *,
    replace: bool,
    embed_late: Callable[[list[str]], dict[str, npt.NDArray[np.float32]]],
) -> WriteCounts:
    """Write ``records`` in the caller's transaction. ``replace`` False inserts only (ids must be new).

    ``embed_late`` embeds the content of the given ids, for the rare rows whose stored content changed
    between reading their hashes and taking their locks.
    """
    _copy_to_staging(conn, info, records)
    if replace:
        stale = _changed_since_read(conn, info)
        if stale:
            with conn.cursor() as cur:  # executemany pipelines the updates: one round trip
                cur.executemany(
                    sql.SQL("UPDATE {} SET embedding = %b WHERE id = %s").format(_STAGING),
                    [
                        (to_db_vector(info, vector), record_id)
                        for record_id, vector in embed_late(stale).items()
                    ],
                )
        # Rows whose content is unchanged carry their stored vector forward (NOT NULL is checked on
        # the proposed row, before ON CONFLICT decides to update).
        conn.execute(
            sql.SQL(
                "UPDATE {staging} s SET embedding = t.embedding FROM {table} t "
                "WHERE s.id = t.id AND s.embedding IS NULL"
            ).format(table=table(info), staging=_STAGING)
        )
        conflict = sql.SQL(
            """
            ON CONFLICT (id) DO UPDATE SET
                content = EXCLUDED.content,
                metadata = EXCLUDED.metadata,
                content_hash = EXCLUDED.content_hash,
                embedding = EXCLUDED.embedding,
                media_type = EXCLUDED.media_type,
                image = EXCLUDED.image,
                thumbnail = EXCLUDED.thumbnail,
                updated_at = now()
            WHERE (t.content, t.metadata, t.content_hash, t.embedding, t.media_type) IS DISTINCT FROM
                  (EXCLUDED.content, EXCLUDED.metadata, EXCLUDED.content_hash, EXCLUDED.embedding,
                   EXCLUDED.media_type)
               OR t.image IS DISTINCT FROM EXCLUDED.image
            """
        )
    else:
        conflict = sql.SQL("ON CONFLICT (id) DO NOTHING")
    row = conn.execute(
        sql.SQL(
            """
            WITH written AS (
                INSERT INTO {table} AS t ({columns})
                SELECT {columns} FROM {staging}
                {conflict}
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
            """
        ).format(table=table(info), staging=_STAGING, conflict=conflict, columns=_COLUMNS)
    ).fetchone()
    assert row is not None
    return WriteCounts(inserted=int(row[0]), updated=int(row[1]))


def existing_ids(conn: Connection[Any], info: CollectionInfo, ids: Sequence[str]) -> list[str]:
    return list(stored_hashes(conn, info, ids))


def read_records(
    conn: Connection[Any], info: CollectionInfo, ids: Sequence[str], *, with_vectors: bool
) -> list[Record]:
    """The stored records among ``ids``, in the order asked."""
    columns = sql.SQL("id, content, metadata, created_at, updated_at{}").format(
        sql.SQL(", embedding") if with_vectors else sql.SQL("")
    )
    with conn.cursor(row_factory=dict_row, binary=True) as cur:
        rows = cur.execute(
            sql.SQL("SELECT {columns} FROM {table} WHERE id = ANY(%s)").format(
                columns=columns, table=table(info)
            ),
            (list(ids),),
        ).fetchall()
    by_id = {row["id"]: row for row in rows}
    return [_record_from_row(by_id[record_id]) for record_id in dict.fromkeys(ids) if record_id in by_id]


def _record_from_row(row: dict[str, Any]) -> Record:
    embedding = row.get("embedding")
    return Record(
        id=row["id"],
        content=row["content"],
        metadata=row["metadata"],
        vector=None if embedding is None else np.asarray(embedding.to_numpy(), dtype=np.float32),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def read_vector(
    conn: Connection[Any], info: CollectionInfo, record_id: str
) -> npt.NDArray[np.float32] | None:
    with conn.cursor(binary=True) as cur:
        row = cur.execute(
            sql.SQL("SELECT embedding FROM {} WHERE id = %s").format(table(info)), (record_id,)
        ).fetchone()
    return None if row is None else np.asarray(row[0].to_numpy(), dtype=np.float32)


def sample_vectors(
    conn: Connection[Any], info: CollectionInfo, count: int, seed: int
) -> list[tuple[str, npt.NDArray[np.float32]]]:
    """``count`` stored ``(id, vector)`` pairs, the same ones for the same seed (ordered by a hash of the
    id and the seed)."""
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(
            sql.SQL("SELECT id, embedding FROM {} ORDER BY md5(id || ':' || %s) LIMIT %s").format(
                table(info)
            ),
            (str(seed), count),
        ).fetchall()
    return [(row[0], np.asarray(row[1].to_numpy(), dtype=np.float32)) for row in rows]


def read_image(
    conn: Connection[Any], info: CollectionInfo, record_id: str, *, thumbnail: bool
) -> tuple[bytes, str] | None:
    """``(bytes, media type)`` of a record's image (or its WebP thumbnail); None if it has none."""
    column = sql.Identifier("thumbnail" if thumbnail else "image")
    row = conn.execute(
        sql.SQL("SELECT {column}, media_type FROM {table} WHERE id = %s").format(
            column=column, table=table(info)
        ),
        (record_id,),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return bytes(row[0]), "image/webp" if thumbnail else row[1]


def record_exists(conn: Connection[Any], info: CollectionInfo, record_id: str) -> bool:
    query = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(table(info))
    return conn.execute(query, (record_id,)).fetchone() is not None


def delete_ids(conn: Connection[Any], info: CollectionInfo, ids: Sequence[str]) -> int:
    cur = conn.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(table(info)), (list(ids),))
    return cur.rowcount


def delete_matching(conn: Connection[Any], info: CollectionInfo, where: CompiledFilter) -> int:
    cur = conn.execute(
        sql.SQL("DELETE FROM {table} WHERE {where}").format(table=table(info), where=where.sql), where.params
    )
    return cur.rowcount


def count_matching(conn: Connection[Any], info: CollectionInfo, where: CompiledFilter) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {table} WHERE {where}").format(table=table(info), where=where.sql),
        where.params,
    ).fetchone()
    return int(row[0]) if row else 0
