"""SQL of records: binary COPY into a staging table, one INSERT ... ON CONFLICT, reads, deletes, counts."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
import numpy.typing as npt
from pgvector import HalfVector
from psycopg import Connection, sql
from psycopg.copy import QueuedLibpqWriter
from psycopg.rows import dict_row

from ..core.filters import CompiledFilter
from ..core.types import CollectionInfo, Record, Storage
from .tables import table, vector_type

_STAGING = sql.Identifier("pgsimilar_staging")


@dataclass(slots=True)
class StagedRecord:
    """A validated record ready to write; ``vector`` None means "keep the stored one" (content unchanged).

    ``metadata_json`` is the metadata's JSON text, as the check that passed it wrote it: a write encodes
    its metadata once.
    """

    id: str
    content: str | None
    metadata_json: str
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


_MANY_IDS = 1000


def stored_hashes(conn: Connection[Any], info: CollectionInfo, ids: Sequence[str]) -> dict[str, str | None]:
    """``{id: content_hash}`` of the given ids that are stored."""
    if not ids or (len(ids) >= _MANY_IDS and not is_populated(conn, info)):
        return {}  # a first load: a look at one row spares sending every id
    with conn.cursor(binary=True) as cur:  # a binary text[] is quicker to make and to read than text
        rows = cur.execute(
            sql.SQL("SELECT id, content_hash FROM {} WHERE id = ANY(%s)").format(table(info)), (list(ids),)
        ).fetchall()
    return {row[0]: row[1] for row in rows}


_COLUMNS = sql.SQL("id, content, metadata, content_hash, embedding, media_type, image, thumbnail")

# COPY's binary format, written here rather than by psycopg's per-value dumpers (a Python call per value,
# a pgvector object per vector): per row the number of fields, then each field as its length and its
# bytes (length -1: NULL), in the column order of _COPY_COLUMNS. The vector comes last, so the vectors
# of a block of rows are encoded in one numpy operation.
_COPY_COLUMNS = sql.SQL("id, content, metadata, content_hash, media_type, image, thumbnail, embedding")
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"
_ROW_START = struct.pack(">h", 8)  # fields per row
_NULL = struct.pack(">i", -1)
_LENGTH = struct.Struct(">i").pack
_JSONB_VERSION = b"\x01"  # jsonb's binary form: this byte, then the JSON text
_ROWS_PER_WRITE = 1000


def _copy_rows(
    conn: Connection[Any], info: CollectionInfo, target: sql.Composable, records: Sequence[StagedRecord]
) -> None:
    """Binary COPY of ``records`` into ``target``'s write columns, in one stream."""
    encoding = conn.info.encoding
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(target, _COPY_COLUMNS)
    with conn.cursor() as cur:
        # Past one block, psycopg's queued writer sends the blocks from a thread while this one encodes
        # the next: the server stores rows meanwhile instead of waiting for Python (each has a core of
        # its own). A single block has nothing to overlap, and is not worth a thread.
        writer = QueuedLibpqWriter(cur) if len(records) > _ROWS_PER_WRITE else None
        with cur.copy(copy_sql, writer=writer) as copy:
            copy.write(_COPY_SIGNATURE)
            for start in range(0, len(records), _ROWS_PER_WRITE):
                copy.write(_copy_block(info, records[start : start + _ROWS_PER_WRITE], encoding))
            copy.write(_COPY_TRAILER)


def _copy_block(info: CollectionInfo, records: Sequence[StagedRecord], encoding: str) -> bytes:
    """The binary COPY rows of ``records``: each column's fields made in one pass (a column that is NULL
    throughout, as images are in most writes, costs nothing per row), then interleaved row by row."""
    ids = [record.id.encode(encoding) for record in records]
    metadata = [record.metadata_json.encode(encoding) for record in records]
    columns: list[Iterable[bytes]] = [
        repeat(_ROW_START),
        [_LENGTH(len(value)) + value for value in ids],
        _text_column([record.content for record in records], encoding),
        [_LENGTH(len(value) + 1) + _JSONB_VERSION + value for value in metadata],
        _text_column([record.content_hash for record in records], encoding),
        _text_column([record.media_type for record in records], encoding),
        _bytes_column([record.image for record in records]),
        _bytes_column([record.thumbnail for record in records]),
        _vector_fields(info, records),
    ]
    return b"".join(chain.from_iterable(zip(*columns, strict=False)))


def _text_column(values: list[str | None], encoding: str) -> Iterable[bytes]:
    if values.count(None) == len(values):
        return repeat(_NULL)
    return [_NULL if value is None else _bytes_field(value.encode(encoding)) for value in values]


def _bytes_column(values: list[bytes | None]) -> Iterable[bytes]:
    if values.count(None) == len(values):
        return repeat(_NULL)
    return [_bytes_field(value) for value in values]


def _bytes_field(value: bytes | None) -> bytes:
    return _NULL if value is None else _LENGTH(len(value)) + value


def _vector_fields(info: CollectionInfo, records: Sequence[StagedRecord]) -> list[bytes]:
    """Each record's vector as a COPY field: pgvector's binary form (dimensions and a reserved zero as
    16-bit integers, then big-endian float32, or float16 for halfvec), or NULL."""
    given = [record.vector for record in records if record.vector is not None]
    if not given:
        return [_NULL] * len(records)
    values = ">f2" if info.storage is Storage.HALFVEC else ">f4"
    field = np.dtype(
        [("length", ">i4"), ("dim", ">u2"), ("unused", ">u2"), ("values", values, (info.dimensions,))]
    )
    encoded = np.zeros(len(given), dtype=field)
    encoded["length"] = field.itemsize - 4
    encoded["dim"] = info.dimensions
    encoded["values"] = np.stack(given)
    rows = encoded.tobytes()
    size = field.itemsize
    fields = iter([rows[at : at + size] for at in range(0, len(rows), size)])  # bytes: no GC tracking
    return [_NULL if record.vector is None else next(fields) for record in records]


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


_QUICK_STATISTICS_TARGET = 10  # ANALYZE samples 300 rows per unit: 3,000 rows
_NOT_ANALYZED = ["embedding", "image", "thumbnail"]  # no plan uses their statistics


def analyze(conn: Connection[Any], info: CollectionInfo) -> None:
    """Planner statistics after a large write, at once but rough: a small sample of the columns that
    queries filter and rank on. A full ANALYZE of 100,000 rows costs about as much as a tenth of
    writing them; autovacuum runs one soon after, since an ANALYZE of chosen columns leaves the
    table's count of changes since its last full ANALYZE as it was."""
    with conn.transaction():
        columns = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attname <> ALL(%s) ORDER BY attnum",
            (table(info).as_string(conn), _NOT_ANALYZED),
        ).fetchall()
        conn.execute(
            "SELECT set_config('default_statistics_target', %s, true)", (str(_QUICK_STATISTICS_TARGET),)
        )
        conn.execute(
            sql.SQL("ANALYZE {} ({})").format(
                table(info), sql.SQL(", ").join(sql.Identifier(row[0]) for row in columns)
            )
        )


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


def _fill_kept_vectors(
    conn: Connection[Any],
    info: CollectionInfo,
    embed_late: Callable[[list[str]], dict[str, npt.NDArray[np.float32]]],
) -> None:
    """The vectors of staged rows that have none: embedded now where the stored content changed since the
    hashes were read, else carried forward from the stored row."""
    stale = _changed_since_read(conn, info)
    if stale:
        with conn.cursor() as cur:  # executemany pipelines the updates: one round trip
            cur.executemany(
                sql.SQL("UPDATE {} SET embedding = %b WHERE id = %s").format(_STAGING),
                [(to_db_vector(info, vector), record_id) for record_id, vector in embed_late(stale).items()],
            )
    # Rows whose content is unchanged carry their stored vector forward (NOT NULL is checked on the
    # proposed row, before ON CONFLICT decides to update).
    conn.execute(
        sql.SQL(
            "UPDATE {staging} s SET embedding = t.embedding FROM {table} t "
            "WHERE s.id = t.id AND s.embedding IS NULL"
        ).format(table=table(info), staging=_STAGING)
    )


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
        if any(record.vector is None for record in records):
            _fill_kept_vectors(conn, info, embed_late)
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
