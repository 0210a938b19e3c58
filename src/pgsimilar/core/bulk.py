"""A large first load: rows into an empty collection by binary COPY straight into its table, with the
approximate index out of the way, then a quick ANALYZE (storage.records.analyze: autovacuum follows with
a full one) and the index built once over all of them.

Building an HNSW graph over rows already in the table (in parallel, in maintenance_work_mem) is several
times faster than growing it one inserted row at a time, and an IVFFlat index learns better lists from
all the data. "Empty" is made true by a table lock that keeps other writers out (readers go on)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import Connection

from ..errors import IndexBuildFailed
from ..storage import indexes
from ..storage import records as record_sql
from . import indexing
from .types import IndexKind

if TYPE_CHECKING:
    from .collection import Collection

BULK_LOAD_MIN_RECORDS = 10_000
"""Writes of at least this many records into an empty collection take the bulk path."""

Verify = Callable[[Connection[Any], record_sql.WriteCounts], None]
EmbedLate = Callable[[list[str]], dict[str, npt.NDArray[np.float32]]]


def load_into_empty(
    collection: Collection,
    staged: Sequence[record_sql.StagedRecord],
    *,
    replace: bool,
    embed_late: EmbedLate,
    verify: Verify,
) -> record_sql.WriteCounts | None:
    """Write ``staged`` by the bulk path; None (nothing done) if the collection holds records or an index
    build is running, so the caller writes the ordinary way. ``verify`` runs in the write's transaction
    and may raise to roll it back."""
    info = collection.info
    client = collection._client
    with client.database.autocommit_connection() as conn:
        if not indexing.try_lock(conn, info):
            return None
        try:
            if record_sql.is_populated(conn, info):
                return None
            # Out of the way for the load; concurrently, so searches of the empty table never wait.
            indexes.drop_index(conn, info, concurrently=True)
            try:
                counts = _write(
                    conn, collection, staged, replace=replace, embed_late=embed_late, verify=verify
                )
            except BaseException:
                _put_index_back(conn, collection)
                raise
            record_sql.analyze(conn, info)
            if info.index.kind is not IndexKind.NONE:
                _index(conn, collection, len(staged))
            return counts
        finally:
            indexing.unlock(conn, info)


def _write(
    conn: Connection[Any],
    collection: Collection,
    staged: Sequence[record_sql.StagedRecord],
    *,
    replace: bool,
    embed_late: EmbedLate,
    verify: Verify,
) -> record_sql.WriteCounts:
    info = collection.info
    with conn.transaction():
        if record_sql.lock_if_empty(conn, info):
            record_sql.copy_into_table(conn, info, staged)
            counts = record_sql.WriteCounts(inserted=len(staged), updated=0)
        else:  # another writer got in first: the ordinary write, in the same transaction
            counts = record_sql.write_records(conn, info, staged, replace=replace, embed_late=embed_late)
        verify(conn, counts)
    return counts


def _put_index_back(conn: Connection[Any], collection: Collection) -> None:
    """After a failed load the table is as empty as before: its index goes back (over no rows, at once),
    or searches would be exact scans until rebuild_index(). The load's own error is the one to report,
    so a failure here (the connection may be what failed) is not raised over it."""
    client = collection._client
    with contextlib.suppress(psycopg.Error, IndexBuildFailed):
        indexing.build_locked(client.database, conn, client.settings, collection.info, None)


def _index(conn: Connection[Any], collection: Collection, count: int) -> None:
    client = collection._client
    try:
        indexing.build_locked(client.database, conn, client.settings, collection.info, None)
    except IndexBuildFailed as exc:
        raise IndexBuildFailed(
            f"the {count} records were stored in {collection.info.qualified_name}, but building its index "
            f"afterwards failed ({exc.__cause__ or exc}); searches are exact until rebuild_index() builds it"
        ) from exc
