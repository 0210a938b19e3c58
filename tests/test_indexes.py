"""Index management: concurrent builds with progress, replace and drop, failures that leave nothing
behind, writes that go on during a build, dimension limits, and the large first load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from pgsimilar import (
    Client,
    Collection,
    IndexBuildFailed,
    IndexBuildRunning,
    IndexKind,
    IndexProgress,
    InvalidInput,
    Settings,
)
from pgsimilar.core import bulk, indexing

from .clustered import embedding_like

DIMS = 64
N = 8_000


def _index_rows(client: Client, collection: Collection) -> list[tuple[str, bool, str]]:
    """``(name, valid, definition)`` of every embedding index of the collection, valid or not."""
    with client.database.connection() as conn:
        rows = conn.execute(
            """
            SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass AND c.relname LIKE %s ORDER BY 1
            """,
            (f"pgsimilar.{collection.info.table_name}", f"c{collection.info.id}_embedding_idx%"),
        ).fetchall()
    return [(str(name), bool(valid), str(definition)) for name, valid, definition in rows]


@pytest.fixture(scope="module")
def loaded(client: Client) -> Iterator[Collection]:
    """8,000 vectors loaded without an index (so each test builds its own)."""
    name = "indexes-fixture"
    client.drop_collection(name, missing_ok=True)
    collection = client.create_collection(name, embedder="none", dimensions=DIMS, index="none")
    points = embedding_like(N, DIMS, seed=1)
    collection.upsert({"id": str(i), "vector": points[i], "metadata": {"g": i % 10}} for i in range(N))
    yield collection
    client.drop_collection(name)


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress polled every 20 ms, so that short test builds still report a few times."""
    monkeypatch.setattr(indexing, "POLL_SECONDS", 0.02)


def test_create_reports_progress_and_records_the_index(
    client: Client, loaded: Collection, fast_polling: None
) -> None:
    seen: list[IndexProgress] = []
    build = loaded.create_index("hnsw", m=8, ef_construction=32, on_progress=seen.append)
    try:
        assert build.built and build.seconds > 0 and build.size_bytes > 0
        assert (build.index.kind, build.index.m, build.index.ef_construction) == (IndexKind.HNSW, 8, 32)
        assert seen and seen[-1].phase == "done" and seen[-1].percent == 100.0
        building = [p for p in seen if p.phase.startswith("building index")]
        assert building, [p.phase for p in seen]
        assert all(p.blocks_total > 0 and p.percent is not None and 0 <= p.percent <= 100 for p in building)
        [(name, valid, definition)] = _index_rows(client, loaded)
        assert valid and name == f"c{loaded.info.id}_embedding_idx"
        assert "USING hnsw (embedding vector_cosine_ops) WITH (m='8', ef_construction='32')" in definition
        assert loaded.index_built()
        again = client.get_collection(loaded.name)
        assert again.info.index == build.index and again.index_built()
        results = again.search(embedding_like(1, DIMS, seed=5)[0], k=5, explain=True)
        assert results.explain is not None and "embedding_idx" in results.explain.plan
    finally:
        loaded.drop_index()
    assert _index_rows(client, loaded) == [] and not loaded.index_built()
    assert client.get_collection(loaded.name).info.index.kind is IndexKind.NONE


def test_rebuild_and_replace_swap_in_the_new_index(client: Client, loaded: Collection) -> None:
    loaded.create_index("hnsw", m=4, ef_construction=16)
    try:
        before = _index_rows(client, loaded)
        rebuilt = loaded.rebuild_index()
        assert rebuilt.built and rebuilt.index == loaded.info.index
        after = _index_rows(client, loaded)
        assert [(name, valid) for name, valid, _ in after] == [(before[0][0], True)]
        replaced = loaded.create_index("ivfflat", lists=12)
        assert replaced.built and loaded.info.index.kind is IndexKind.IVFFLAT
        [(name, valid, definition)] = _index_rows(client, loaded)
        assert (
            valid
            and name.endswith("_embedding_idx")
            and "ivfflat" in definition
            and "lists='12'" in definition
        )
    finally:
        loaded.drop_index()
    with pytest.raises(InvalidInput, match="no index to rebuild"):
        loaded.rebuild_index()


def test_writes_go_on_during_a_concurrent_build(client: Client, loaded: Collection) -> None:
    """A writer thread keeps upserting while the index is built, and its writes go on during the build."""
    stop = threading.Event()
    latencies: list[tuple[float, float]] = []  # (finished at, seconds)
    fresh = embedding_like(2000, DIMS, seed=9)

    def writer() -> None:
        batch = 0
        while not stop.is_set() and batch < 200:
            started = time.perf_counter()
            loaded.upsert(
                {"id": f"w{batch}-{j}", "vector": fresh[(batch * 10 + j) % 2000]} for j in range(10)
            )
            latencies.append((time.perf_counter(), time.perf_counter() - started))
            batch += 1

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.2)  # the writer is going
    started = time.perf_counter()
    try:
        loaded.create_index("hnsw", m=12, ef_construction=48)
        finished = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    written = [f"w{batch}-{j}" for batch in range(len(latencies)) for j in range(10)]
    try:
        # One writer, one upsert after another: three finishing within the build means the later ones
        # started and finished while it ran, so writes were not held up by it. (No bound on their
        # times: on a loaded machine a write may be slow without waiting for the build.)
        during = [seconds for at, seconds in latencies if started < at < finished]
        assert len(during) >= 3, (finished - started, latencies)
        assert len(loaded.get_many(written)) == len(written)
        [(_, valid, _)] = _index_rows(client, loaded)
        assert valid
        # Rows written while the index was being built are in it: found through the index.
        last = loaded.search(fresh[((len(latencies) - 1) * 10) % 2000], k=1, explain=True)
        assert last.explain is not None and "embedding_idx" in last.explain.plan
        assert last[0].distance is not None and last[0].distance < 1e-5
    finally:
        loaded.drop_index()
        loaded.delete(written)


def _cancel_build(client: Client, collection: Collection) -> None:
    with client.database.connection() as conn:
        conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_progress_create_index WHERE relid = %s::regclass",
            (f"pgsimilar.{collection.info.table_name}",),
        )


def test_a_failed_build_leaves_no_invalid_index_and_keeps_the_old_one(
    client: Client, loaded: Collection, fast_polling: None
) -> None:
    loaded.create_index("hnsw", m=4, ef_construction=16)
    try:
        with pytest.raises(IndexBuildFailed, match="cancel"):
            loaded.create_index(
                "hnsw", m=16, ef_construction=64, on_progress=lambda _: _cancel_build(client, loaded)
            )
        [(name, valid, definition)] = _index_rows(client, loaded)  # the old index, still serving searches
        assert valid and not name.endswith("_new") and "m='4'" in definition
        assert client.get_collection(loaded.name).info.index.m == 4
    finally:
        loaded.drop_index()

    class Interrupted(Exception):
        pass

    def interrupt(_: IndexProgress) -> None:
        raise Interrupted  # as Ctrl-C would, in the caller's thread

    with pytest.raises(Interrupted):
        loaded.create_index("hnsw", on_progress=interrupt)
    assert _index_rows(client, loaded) == []
    assert client.get_collection(loaded.name).info.index.kind is IndexKind.NONE


def test_one_build_per_collection_at_a_time(client: Client, loaded: Collection) -> None:
    with client.database.autocommit_connection() as conn:
        assert indexing.try_lock(conn, loaded.info)
        with pytest.raises(IndexBuildRunning, match="another index build"):
            loaded.create_index("hnsw")
        with pytest.raises(IndexBuildRunning):
            loaded.drop_index()
    assert _index_rows(client, loaded) == []


def test_ivfflat_created_on_an_empty_collection_waits_for_rows(client: Client, unique_name: str) -> None:
    collection = client.create_collection(unique_name, embedder="none", dimensions=4, index="none")
    try:
        build = collection.create_index("ivfflat")
        assert not build.built and collection.info.index.kind is IndexKind.IVFFLAT
        assert not collection.index_built()
        collection.upsert([{"id": str(i), "vector": [1.0, i, 2.0, -i]} for i in range(50)])
        assert collection.index_built()
        assert collection.rebuild_index().built
    finally:
        client.drop_collection(unique_name)


def test_more_than_2000_dimensions_need_halfvec_to_be_indexed(client: Client, unique_name: str) -> None:
    wide = client.create_collection(unique_name, embedder="none", dimensions=2500, index="none")
    try:
        with pytest.raises(InvalidInput, match="storage='halfvec'"):
            wide.create_index("hnsw")
        assert not wide.index_built()
    finally:
        client.drop_collection(unique_name)
    half = client.create_collection(
        unique_name, embedder="none", dimensions=2500, storage="halfvec", index="none"
    )
    try:
        rng = np.random.default_rng(3)
        points = rng.normal(size=(30, 2500)).astype(np.float32)
        half.upsert({"id": str(i), "vector": points[i]} for i in range(30))
        assert half.create_index("hnsw").built
        [(_, valid, definition)] = _index_rows(client, half)
        assert valid and "halfvec_cosine_ops" in definition
        assert half.search(points[7], k=1).ids == ["7"]
    finally:
        client.drop_collection(unique_name)


def test_halfvec_storage_works_with_any_embedder(client: Client, unique_name: str) -> None:
    collection = client.create_collection(unique_name, embedder="minilm", storage="halfvec")
    try:
        [(_, valid, definition)] = _index_rows(client, collection)
        assert valid and "halfvec_cosine_ops" in definition
    finally:
        client.drop_collection(unique_name)


def test_a_large_first_load_builds_the_index_afterwards(client: Client, unique_name: str) -> None:
    collection = client.create_collection(
        unique_name, embedder="none", dimensions=16, m=8, ef_construction=32
    )
    try:
        points = embedding_like(bulk.BULK_LOAD_MIN_RECORDS, 16, seed=4)
        result = collection.upsert({"id": str(i), "vector": points[i]} for i in range(len(points)))
        assert (result.inserted, result.updated) == (len(points), 0)
        [(_, valid, definition)] = _index_rows(client, collection)
        assert valid and "m='8'" in definition
        with client.database.connection() as conn:
            analyzed = conn.execute(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relid = %s::regclass",
                (f"pgsimilar.{collection.info.table_name}",),
            ).fetchone()
        assert analyzed == (True,)
        assert collection.search(points[123], k=1).ids == ["123"]
    finally:
        client.drop_collection(unique_name)


def test_a_failed_large_first_load_leaves_the_collection_indexed(
    client: Client, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk path drops the index for the load; a load that fails (here: after its COPY, inside the
    write's transaction) rolls back to the empty table, which gets its index back."""
    collection = client.create_collection(unique_name, embedder="none", dimensions=16)
    real_copy = bulk.record_sql.copy_into_table

    def copy_then_fail(*args: Any, **kwargs: Any) -> None:
        real_copy(*args, **kwargs)
        raise RuntimeError("the load failed after its COPY")

    monkeypatch.setattr(bulk.record_sql, "copy_into_table", copy_then_fail)
    try:
        points = embedding_like(bulk.BULK_LOAD_MIN_RECORDS, 16, seed=5)
        with pytest.raises(RuntimeError, match="after its COPY"):
            collection.upsert({"id": str(i), "vector": points[i]} for i in range(len(points)))
        assert collection.count() == 0
        [(_, valid, definition)] = _index_rows(client, collection)
        assert valid and "hnsw" in definition
        monkeypatch.undo()
        collection.upsert({"id": str(i), "vector": points[i]} for i in range(len(points)))
        assert collection.count() == len(points) and collection.index_built()
    finally:
        client.drop_collection(unique_name)


def test_build_settings_fit_the_machine(settings: Settings) -> None:
    memory, workers = indexing.build_settings(settings.model_copy(update={"database_url": None}))
    assert memory is not None and memory.endswith("MB")
    assert 64 <= int(memory[:-2]) <= 2048
    assert workers is not None and 0 <= workers <= 8
    chosen = Settings(index_maintenance_work_mem="1gb", data_dir=settings.data_dir)
    assert indexing.build_settings(chosen)[0] == "1GB"
    remote = chosen.model_copy(update={"database_url": "postgresql://elsewhere/db"})
    assert indexing.build_settings(remote) == ("1GB", None)  # another machine: its own worker settings
    with pytest.raises(ValueError, match="512MB"):
        Settings(index_maintenance_work_mem="lots")


def test_search_statements_are_prepared_on_pooled_connections(client: Client, loaded: Collection) -> None:
    """The same statement text every time, so psycopg prepares it after a few runs on a connection (the
    pool hands out the connection returned last, so one thread's searches go to one connection)."""
    query = embedding_like(1, DIMS, seed=6)[0]
    for _ in range(client.settings.pool_max_size * 6):
        loaded.search(query, k=3, exact=True)
    with client.database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH nearest AS%'"
        ).fetchone()
    assert row is not None and row[0] >= 1
