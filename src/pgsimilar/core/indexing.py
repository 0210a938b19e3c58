"""Index management: build, replace and drop a collection's approximate index without stopping writes.

Builds run ``CREATE INDEX CONCURRENTLY`` on an autocommit connection (it cannot run in a transaction
block), so inserts and updates go on while the index is made. A second connection polls
``pg_stat_progress_create_index`` for the building backend and hands :class:`IndexProgress` to the
caller's callback. A build that fails or is interrupted leaves an INVALID index behind, which is dropped
at once. Replacing an index (``rebuild_index``, or ``create_index`` with new settings) builds the new one
under a temporary name, then drops the old one and renames the new, so searches always have an index.
One build per collection at a time: a session advisory lock keyed on the collection guards it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import psutil
import psycopg
from psycopg import Connection

from ..config import Settings
from ..errors import IndexBuildFailed, IndexBuildRunning, InvalidInput
from ..storage import catalog, indexes
from ..storage.database import Database
from ..storage.tables import MAX_DIMENSIONS
from .types import CollectionInfo, IndexBuild, IndexKind, IndexProgress, IndexSettings, Quantization, Storage

if TYPE_CHECKING:
    from .collection import Collection

ProgressCallback = Callable[[IndexProgress], None]

POLL_SECONDS = 0.2
_LOCK_CLASS = 0x70676978  # "pgix": advisory locks of index builds, one per collection id
_MB = 1024 * 1024
MIN_MAINTENANCE_WORK_MEM = 64 * _MB
MAX_MAINTENANCE_WORK_MEM = 2048 * _MB
MAX_PARALLEL_WORKERS = 8


# ---- settings --------------------------------------------------------------------------------------


def index_settings(
    kind: IndexKind, m: int | None, ef_construction: int | None, lists: int | None
) -> IndexSettings:
    """Checked build parameters of an index of ``kind`` (HNSW defaults filled in)."""

    def bounded(value: int | None, name: str, low: int, high: int) -> None:
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
        ):
            raise InvalidInput(f"{name} must be an integer from {low} to {high}, got {value!r}")

    if kind is not IndexKind.HNSW and (m is not None or ef_construction is not None):
        raise InvalidInput("m and ef_construction are HNSW parameters; use index='hnsw'")
    if kind is not IndexKind.IVFFLAT and lists is not None:
        raise InvalidInput("lists is an IVFFlat parameter; use index='ivfflat'")
    bounded(m, "m", 2, 100)
    bounded(ef_construction, "ef_construction", 4, 1000)
    bounded(lists, "lists", 1, 32768)
    if kind is IndexKind.HNSW:
        m = m or indexes.HNSW_DEFAULTS["m"]
        ef_construction = ef_construction or indexes.HNSW_DEFAULTS["ef_construction"]
        if ef_construction < 2 * m:
            raise InvalidInput(f"ef_construction ({ef_construction}) must be at least 2 * m ({2 * m})")
    return IndexSettings(kind=kind, m=m, ef_construction=ef_construction, lists=lists)


def check_indexable(dimensions: int, storage: Storage, kind: IndexKind, quantization: Quantization) -> None:
    """Refuse what pgvector cannot index, saying what would work instead."""
    if dimensions > MAX_DIMENSIONS:
        raise InvalidInput(f"pgvector stores at most {MAX_DIMENSIONS} dimensions")
    if quantization is Quantization.BINARY:
        if kind is IndexKind.IVFFLAT:
            raise InvalidInput("binary quantization uses an HNSW index; use index='hnsw'")
        return  # bit(N) is indexed up to 64,000 dimensions, more than pgvector stores
    limit = indexes.MAX_INDEXED_DIMENSIONS[storage]
    if kind is not IndexKind.NONE and dimensions > limit:
        hint = (
            "use storage='halfvec' (indexed up to 4000 dimensions) or quantization='binary'"
            if storage is Storage.VECTOR
            else "use quantization='binary' or index='none'"
        )
        raise InvalidInput(
            f"pgvector indexes {storage.value} columns of at most {limit} dimensions, not {dimensions}; {hint}"
        )


def _shared_memory_free() -> int | None:
    try:
        return psutil.disk_usage("/dev/shm").free
    except OSError:
        return None


def _size_bytes(size: str) -> int:
    number, unit = int(size[:-2]), size[-2:]
    return number * {"kB": 1024, "MB": _MB, "GB": 1024 * _MB, "TB": 1024 * 1024 * _MB}[unit]


def build_settings(settings: Settings) -> tuple[str | None, int | None]:
    """``(maintenance_work_mem, max_parallel_maintenance_workers)`` for index builds.

    On the embedded server (this machine): a quarter of the available memory, from 64 MB to 2 GB, and a
    parallel worker per CPU beyond the first (up to 8). A parallel HNSW build holds its graph in
    shared memory of maintenance_work_mem's size, so builds stay serial when /dev/shm is too small
    for it. On another server the machine is unknown: its own settings are kept, except
    ``PGSIMILAR_INDEX_MAINTENANCE_WORK_MEM`` when set.
    """
    memory = settings.index_maintenance_work_mem
    if not settings.uses_embedded_database:
        return memory, None
    if memory is None:
        quarter = psutil.virtual_memory().available // 4
        memory = f"{min(MAX_MAINTENANCE_WORK_MEM, max(MIN_MAINTENANCE_WORK_MEM, quarter)) // _MB}MB"
    workers = min(max((os.cpu_count() or 1) - 1, 0), MAX_PARALLEL_WORKERS)
    shared = _shared_memory_free()
    if workers and shared is not None and _size_bytes(memory) > shared // 2:
        workers = 0
    return memory, workers


# ---- locking and cleaning up -------------------------------------------------------------------------


def _lock_key(info: CollectionInfo) -> tuple[int, int]:
    return (_LOCK_CLASS, info.id % 2**31)


def try_lock(conn: Connection[Any], info: CollectionInfo) -> bool:
    """Take the collection's index-build lock for ``conn``'s session, if no other session holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", _lock_key(info)).fetchone()
    return bool(row and row[0])


def unlock(conn: Connection[Any], info: CollectionInfo) -> None:
    if not conn.closed:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", _lock_key(info))


@contextlib.contextmanager
def build_lock(conn: Connection[Any], info: CollectionInfo) -> Iterator[None]:
    """The collection's index-build lock, held by ``conn``'s session; IndexBuildRunning if taken."""
    if not try_lock(conn, info):
        raise IndexBuildRunning(
            f"another index build of {info.qualified_name} is running; try again when it has finished"
        )
    try:
        yield
    finally:
        unlock(conn, info)


def _drop_leftovers(conn: Connection[Any], info: CollectionInfo) -> bool | None:
    """Drop what an interrupted build left (the temporary index, an invalid index); return the state
    of the collection's index: None (none), True (valid)."""
    indexes.drop_index(conn, info, indexes.index_name(info, temporary=True), concurrently=True)
    state = indexes.index_state(conn, info)
    if state is False:
        indexes.drop_index(conn, info, concurrently=True)
        return None
    return state


def _cancel(database: Database, pid: int) -> None:
    with contextlib.suppress(psycopg.Error), database.connection() as conn:
        conn.execute("SELECT pg_cancel_backend(%s)", (pid,))


def _clean_failed(database: Database, conn: Connection[Any], info: CollectionInfo, name: str) -> None:
    """Drop the invalid index a failed concurrent build leaves behind (only an invalid one: a valid index
    of that name is not the failed build's)."""
    if not conn.closed:
        with contextlib.suppress(psycopg.Error):
            if indexes.index_state(conn, info, name) is False:
                indexes.drop_index(conn, info, name, concurrently=True)
            return
    # The build's session is gone (and its lock with it): clean up only if no other build started since.
    with (
        contextlib.suppress(psycopg.Error, IndexBuildRunning),
        database.autocommit_connection() as other,
        build_lock(other, info),
    ):
        if indexes.index_state(other, info, name) is False:
            indexes.drop_index(other, info, name, concurrently=True)


# ---- building ----------------------------------------------------------------------------------------


def _poll(database: Database, pid: int) -> IndexProgress | None:
    # A short transaction per poll: a concurrent build waits for older snapshots, so none may linger.
    with database.connection() as conn:
        return indexes.read_progress(conn, pid)


def _build_concurrently(
    database: Database,
    conn: Connection[Any],
    info: CollectionInfo,
    *,
    name: str,
    rows: int,
    on_progress: ProgressCallback | None,
) -> None:
    """Run the build on ``conn`` in a thread of its own while this one reports its progress; drop the
    invalid index if it fails or the caller is interrupted (Ctrl-C, or an error in ``on_progress``)."""
    failure: list[BaseException] = []

    def build() -> None:
        try:
            indexes.create_index(conn, info, name=name, row_count=rows, concurrently=True)
        except BaseException as exc:
            failure.append(exc)

    pid = conn.info.backend_pid
    worker = threading.Thread(target=build, name=f"pgsimilar-index-{info.id}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            if on_progress is not None and worker.is_alive() and (progress := _poll(database, pid)):
                on_progress(progress)
    except BaseException:
        _cancel(database, pid)
        worker.join()
        _clean_failed(database, conn, info, name)
        raise
    if failure:
        _clean_failed(database, conn, info, name)
        raise IndexBuildFailed(
            f"building the index of {info.qualified_name} failed: {failure[0]}"
        ) from failure[0]
    if on_progress is not None:
        on_progress(IndexProgress("done", 0, 0, rows, rows, 100.0))


def build(
    database: Database, settings: Settings, info: CollectionInfo, on_progress: ProgressCallback | None
) -> bool:
    """Build (or replace) the index ``info.index`` describes, concurrently. False if there was nothing to
    build yet (an IVFFlat index on an empty table: it is built after the first load)."""
    with database.autocommit_connection() as conn, build_lock(conn, info):
        return build_locked(database, conn, settings, info, on_progress)


def build_locked(
    database: Database,
    conn: Connection[Any],
    settings: Settings,
    info: CollectionInfo,
    on_progress: ProgressCallback | None,
) -> bool:
    """:func:`build` on an autocommit connection that holds the collection's :func:`build_lock`."""
    existing = _drop_leftovers(conn, info) is True
    rows = indexes.row_count(conn, info)
    if info.index.kind is IndexKind.IVFFLAT and rows == 0:
        if existing:
            indexes.drop_index(conn, info, concurrently=True)
        return False
    indexes.set_build_settings(conn, *build_settings(settings))
    name = indexes.index_name(info, temporary=existing)
    _build_concurrently(database, conn, info, name=name, rows=rows, on_progress=on_progress)
    if existing:
        indexes.drop_index(conn, info, concurrently=True)
        indexes.rename_index(conn, name, indexes.index_name(info))
    return True


def create_index(
    collection: Collection, index: IndexSettings, on_progress: ProgressCallback | None
) -> IndexBuild:
    """Give ``collection`` the index ``index`` (replacing the one it has), then record it."""
    info = collection.info
    check_indexable(info.dimensions, info.storage, index.kind, info.quantization)
    if index.kind is IndexKind.NONE:
        drop_index(collection)
        return IndexBuild(index=index, built=False, seconds=0.0, size_bytes=0)
    client = collection._client
    target = dataclasses.replace(info, index=index, search_defaults={})
    started = time.perf_counter()
    built = build(client.database, client.settings, target, on_progress)
    seconds = time.perf_counter() - started
    with client.database.connection() as conn:
        catalog.set_index(conn, info.id, index)
        size = indexes.index_size(conn, target)
    collection.info = target
    return IndexBuild(index=index, built=built, seconds=seconds, size_bytes=size)


def rebuild_index(collection: Collection, on_progress: ProgressCallback | None) -> IndexBuild:
    """Build the collection's index again, concurrently, and swap it in (tuned search defaults stay)."""
    info = collection.info
    if info.index.kind is IndexKind.NONE:
        raise InvalidInput(f"{info.qualified_name} has no index to rebuild; create one with create_index")
    database = collection._client.database
    started = time.perf_counter()
    built = build(database, collection._client.settings, info, on_progress)
    seconds = time.perf_counter() - started
    with database.connection() as conn:
        size = indexes.index_size(conn, info)
    return IndexBuild(index=info.index, built=built, seconds=seconds, size_bytes=size)


def drop_index(collection: Collection) -> None:
    """Drop the collection's index concurrently; searches are exact from then on."""
    info = collection.info
    database = collection._client.database
    with database.autocommit_connection() as conn, build_lock(conn, info):
        indexes.drop_index(conn, info, indexes.index_name(info, temporary=True), concurrently=True)
        indexes.drop_index(conn, info, concurrently=True)
    none = IndexSettings(kind=IndexKind.NONE)
    with database.connection() as conn:
        catalog.set_index(conn, info.id, none)
    collection.info = dataclasses.replace(info, index=none, search_defaults={})
