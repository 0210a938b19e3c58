"""DDL of a collection's approximate index: HNSW or IVFFlat over the embedding, or HNSW over its binary
quantization; built plainly (in a transaction) or concurrently (autocommit), its progress and size."""

from __future__ import annotations

import math
from typing import Any

from psycopg import Connection, sql

from ..core.types import CollectionInfo, IndexKind, IndexProgress, Metric, Quantization, Storage
from .tables import SCHEMA, table

HNSW_DEFAULTS = {"m": 16, "ef_construction": 64}

# Most dimensions pgvector can index per storage type (its HNSW/IVFFlat page-size limits); a binary
# quantized index holds bit(N), which pgvector indexes up to 64,000 dimensions.
MAX_INDEXED_DIMENSIONS: dict[Storage, int] = {Storage.VECTOR: 2000, Storage.HALFVEC: 4000}
MAX_BIT_INDEXED_DIMENSIONS = 64_000

_OPCLASS_SUFFIX: dict[Metric, str] = {Metric.COSINE: "cosine", Metric.L2: "l2", Metric.INNER_PRODUCT: "ip"}


def index_name(info: CollectionInfo, *, temporary: bool = False) -> str:
    """The index's name; a rebuild makes the new index under the temporary name, then swaps."""
    return f"c{info.id}_embedding_idx" + ("_new" if temporary else "")


def quantized(info: CollectionInfo, value: sql.Composable) -> sql.Composed:
    """``value`` binary-quantized, typed exactly as the index expression (so the planner matches it)."""
    return sql.SQL("(binary_quantize({})::bit({}))").format(value, sql.Literal(info.dimensions))


def auto_lists(row_count: int) -> int:
    """pgvector's rule of thumb for IVFFlat lists: rows / 1000 up to 1M rows, sqrt(rows) beyond."""
    if row_count <= 1_000_000:
        return max(1, row_count // 1000)
    return int(math.sqrt(row_count))


def _definition(info: CollectionInfo, name: str, row_count: int, concurrently: bool) -> sql.Composed:
    index = info.index
    if index.kind is IndexKind.HNSW:
        params = sql.SQL("m = {}, ef_construction = {}").format(
            sql.Literal(index.m or HNSW_DEFAULTS["m"]),
            sql.Literal(index.ef_construction or HNSW_DEFAULTS["ef_construction"]),
        )
    else:
        params = sql.SQL("lists = {}").format(sql.Literal(index.lists or auto_lists(row_count)))
    key: sql.Composable
    if info.quantization is Quantization.BINARY:
        key = sql.SQL("{} bit_hamming_ops").format(quantized(info, sql.Identifier("embedding")))
    else:
        key = sql.SQL(f"embedding {info.storage.value}_{_OPCLASS_SUFFIX[info.metric]}_ops")
    return sql.SQL(
        "CREATE INDEX {concurrently} {name} ON {table} USING {method} ({key}) WITH ({params})"
    ).format(
        concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
        name=sql.Identifier(name),
        table=table(info),
        method=sql.SQL(index.kind.value),
        key=key,
        params=params,
    )


def create_index(
    conn: Connection[Any],
    info: CollectionInfo,
    *,
    name: str | None = None,
    row_count: int = 0,
    concurrently: bool = False,
) -> None:
    """Build the index ``info.index`` describes. ``concurrently`` needs an autocommit connection."""
    if info.index.kind is IndexKind.NONE:
        return
    conn.execute(_definition(info, name or index_name(info), row_count, concurrently))


def index_state(conn: Connection[Any], info: CollectionInfo, name: str | None = None) -> bool | None:
    """None if the index does not exist; else whether it is valid (a failed concurrent build leaves an
    invalid one behind)."""
    row = conn.execute(
        """
        SELECT i.indisvalid FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s
        """,
        (SCHEMA, name or index_name(info)),
    ).fetchone()
    return None if row is None else bool(row[0])


def index_exists(conn: Connection[Any], info: CollectionInfo) -> bool:
    """Whether the collection's index exists and is valid (usable by searches)."""
    return index_state(conn, info) is True


def index_size(conn: Connection[Any], info: CollectionInfo) -> int:
    """The index's size on disk in bytes (0 when there is none)."""
    row = conn.execute(
        """
        SELECT pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s
        """,
        (SCHEMA, index_name(info)),
    ).fetchone()
    return int(row[0]) if row else 0


def row_count(conn: Connection[Any], info: CollectionInfo) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table(info))).fetchone()
    return int(row[0]) if row else 0


def ensure_index(conn: Connection[Any], info: CollectionInfo) -> bool:
    """Build the index in the caller's transaction if it is missing and the table has rows (an IVFFlat
    index learns its lists from the rows, so it waits for the first load). True if built."""
    if info.index.kind is IndexKind.NONE or index_state(conn, info) is not None:
        return False
    rows = row_count(conn, info)
    if rows == 0:
        return False
    create_index(conn, info, row_count=rows)
    return True


def drop_index(
    conn: Connection[Any], info: CollectionInfo, name: str | None = None, *, concurrently: bool = False
) -> None:
    conn.execute(
        sql.SQL("DROP INDEX {} IF EXISTS {}").format(
            sql.SQL("CONCURRENTLY" if concurrently else ""), sql.Identifier(SCHEMA, name or index_name(info))
        )
    )


def rename_index(conn: Connection[Any], old: str, new: str) -> None:
    conn.execute(
        sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(SCHEMA, old), sql.Identifier(new))
    )


def set_build_settings(conn: Connection[Any], maintenance_work_mem: str | None, workers: int | None) -> None:
    """Session settings of the build connection (reset when it goes back to the pool)."""
    if maintenance_work_mem is not None:
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (maintenance_work_mem,))
    if workers is not None:
        conn.execute("SELECT set_config('max_parallel_maintenance_workers', %s, false)", (str(workers),))


def read_progress(conn: Connection[Any], pid: int) -> IndexProgress | None:
    """The progress of the index build running in backend ``pid``; None if it runs none (yet)."""
    row = conn.execute(
        "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total "
        "FROM pg_stat_progress_create_index WHERE pid = %s",
        (pid,),
    ).fetchone()
    if row is None:
        return None
    phase, blocks_done, blocks_total, tuples_done, tuples_total = row
    percent = None
    if tuples_total:
        percent = min(100.0, 100.0 * tuples_done / tuples_total)
    elif blocks_total:
        percent = min(100.0, 100.0 * blocks_done / blocks_total)
    return IndexProgress(
        phase=str(phase),
        blocks_done=int(blocks_done or 0),
        blocks_total=int(blocks_total or 0),
        tuples_done=int(tuples_done or 0),
        tuples_total=int(tuples_total or 0),
        percent=percent,
    )


def ivfflat_lists(conn: Connection[Any], info: CollectionInfo) -> int | None:
    """The ``lists`` an IVFFlat index was built with (it may have been chosen from the row count)."""
    row = conn.execute(
        """
        SELECT option_value FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
             pg_options_to_table(c.reloptions)
        WHERE n.nspname = %s AND c.relname = %s AND option_name = 'lists'
        """,
        (SCHEMA, index_name(info)),
    ).fetchone()
    return int(row[0]) if row else None
