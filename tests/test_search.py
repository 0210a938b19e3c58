"""Search: by vector, text and id; exact and approximate; filters; scores; settings per query."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from pgsimilar import (
    Client,
    Collection,
    DimensionMismatch,
    InvalidFilter,
    InvalidInput,
    InvalidVector,
    RecordNotFound,
)
from pgsimilar.core.filters import compile_filter
from pgsimilar.storage import search as search_sql

from .clustered import exact_cosine_ids

DIMS = 24
N = 6000


def _clustered_labelled(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points around 40 random centres, and the centre each belongs to."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIMS))
    labels = rng.integers(0, 40, n)
    points = centres[labels] + 0.35 * rng.normal(size=(n, DIMS))
    return points.astype(np.float32), labels


def _clustered(seed: int, n: int) -> np.ndarray:
    return _clustered_labelled(seed, n)[0]


@pytest.fixture(scope="module")
def indexed(client: Client) -> Iterator[tuple[Collection, np.ndarray]]:
    """6,000 clustered vectors in an HNSW collection; metadata 'cluster', 'group' (0-99), 'rare' (12 records)."""
    name = "search-hnsw-fixture"
    client.drop_collection(name, missing_ok=True)
    collection = client.create_collection(name, embedder="none", dimensions=DIMS, metric="cosine")
    points, labels = _clustered_labelled(1, N)
    collection.upsert(
        {
            "id": str(i),
            "vector": points[i],
            "metadata": {"cluster": int(labels[i]), "group": i % 100, "rare": i % 500 == 3},
        }
        for i in range(N)
    )
    with client.database.connection() as conn:
        conn.execute(f"ANALYZE pgsimilar.{collection.info.table_name}")
    yield collection, points
    client.drop_collection(name)


def _queries(seed: int, n: int) -> np.ndarray:
    """Queries from the data's own distribution (its clusters), as real queries are."""
    return _clustered(1, N)[np.random.default_rng(seed).integers(0, N, n)] + 0.2 * np.random.default_rng(
        seed + 1000
    ).normal(size=(n, DIMS)).astype(np.float32)


def test_exact_search_matches_brute_force_and_scans_sequentially(
    indexed: tuple[Collection, np.ndarray],
) -> None:
    collection, points = indexed
    query = _queries(2, 1)[0]
    results = collection.search(query, k=10, exact=True, explain=True)
    assert results.ids == exact_cosine_ids(points, query, 10)
    assert results.explain is not None and results.explain.exact
    assert "embedding_idx" not in results.explain.plan
    hit = results[0]
    expected = 1 - float(
        points[int(hit.id)] @ query / np.linalg.norm(points[int(hit.id)]) / np.linalg.norm(query)
    )
    assert hit.distance == pytest.approx(expected, abs=1e-5)
    assert hit.score == pytest.approx(1 - hit.distance)
    assert [h.distance for h in results] == sorted(h.distance for h in results)


def test_approximate_search_uses_the_hnsw_index_with_high_recall(
    indexed: tuple[Collection, np.ndarray],
) -> None:
    collection, points = indexed
    queries = _queries(3, 20)
    recalls = []
    for query in queries:
        results = collection.search(query, k=10, ef_search=100, explain=True)
        assert results.explain is not None
        assert "Index Scan using" in results.explain.plan and "embedding_idx" in results.explain.plan
        assert results.explain.settings == {"hnsw.ef_search": "100", "plan_cache_mode": "force_generic_plan"}
        recalls.append(len(set(results.ids) & set(exact_cosine_ids(points, query, 10))) / 10)
    assert np.mean(recalls) >= 0.95


def test_a_selective_filter_is_answered_by_the_exact_scan(indexed: tuple[Collection, np.ndarray]) -> None:
    """1% of records match (60): the index would walk past ~100 rows per match, so pgsimilar compares
    the matches themselves (found through the metadata index): all k hits, exactly."""
    collection, points = indexed
    groups = np.arange(N) % 100
    for seed, group in ((4, 7), (5, 42), (6, 99)):
        query = _queries(seed, 1)[0]
        results = collection.search(query, k=10, filter={"group": group}, explain=True)
        assert results.ids == exact_cosine_ids(points, query, 10, mask=groups == group)
        assert results.explain is not None and results.explain.exact
        assert "embedding_idx" not in results.explain.plan


def test_a_filters_matches_are_counted_up_to_a_cap_and_remembered_for_a_while(
    client: Client, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Choosing between the exact scan and the index counts a filter's matches (the planner's estimate
    for jsonb containment can be several times off); the count is remembered per collection, filter,
    values and cap for MATCHES_SECONDS."""
    collection = client.create_collection(unique_name, embedder="none", dimensions=2, metric="l2")
    rng = np.random.default_rng(3)

    def add(kind: str, count: int, start: int) -> None:
        collection.upsert(
            {"id": str(start + i), "vector": rng.normal(size=2), "metadata": {"kind": kind, "n": i}}
            for i in range(count)
        )

    def count(kind: str, cap: int = 10_000) -> int:
        with client.database.connection() as conn:
            return search_sql.count_matches(conn, collection.info, compile_filter({"kind": kind}), cap)[0]

    try:
        add("a", 3000, 0)
        assert (count("a"), count("a", cap=1000), count("b")) == (3000, 1000, 0)
        add("b", 2500, 3000)
        assert count("b") == 0  # remembered
        assert count("b", cap=5000) == 2500  # another cap is counted anew
        monkeypatch.setattr(search_sql, "MATCHES_SECONDS", 0.0)
        assert count("b") == 2500
    finally:
        client.drop_collection(unique_name)


def test_filter_excluding_the_query_neighbourhood_uses_iterative_index_scans(
    client: Client, indexed: tuple[Collection, np.ndarray]
) -> None:
    """The hard case for a post-filtered index: the matches (4 of 40 clusters, 10% of records) lie
    away from the query, so one HNSW candidate list holds none of them."""
    collection, points = indexed
    labels = _clustered_labelled(1, N)[1]
    query = points[0] + 0.05
    others = [int((labels[0] + step) % 40) for step in (1, 2, 3, 4)]
    matches = np.isin(labels, others)
    results = collection.search(query, k=10, filter={"cluster": {"$in": others}}, explain=True)
    assert results.explain is not None
    assert "Index Scan using" in results.explain.plan and not results.explain.fell_back_to_exact
    assert results.explain.settings["hnsw.ef_search"] == "200"  # a filter widens the default 40
    assert len(results) == 10 and all(hit.metadata["cluster"] in others for hit in results)
    assert len(set(results.ids) & set(exact_cosine_ids(points, query, 10, mask=matches))) >= 9

    # The same query without iterative scans: what a plain post-filter returns. (Pooled connections
    # keep the last search's pgvector settings, so say which one this query runs with.)
    with client.database.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL hnsw.iterative_scan = off")
        conn.execute("SET LOCAL hnsw.ef_search = 40")
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        rows = conn.execute(
            f"SELECT id FROM pgsimilar.{collection.info.table_name} "
            "WHERE (metadata->'cluster')::int = ANY(%s) ORDER BY embedding <=> %b LIMIT 10",
            (others, query),
        ).fetchall()
    assert len(rows) < 10


def test_filter_matching_fewer_than_k_returns_all_matches(indexed: tuple[Collection, np.ndarray]) -> None:
    collection, points = indexed
    rare = np.array([i % 500 == 3 for i in range(N)])
    query = _queries(7, 1)[0]
    results = collection.search(query, k=20, filter={"rare": True})
    assert results.ids == exact_cosine_ids(points, query, 20, mask=rare)
    assert len(results) == int(rare.sum()) == 12
    assert collection.search(query, k=5, filter={"$and": [{"rare": True}, {"group": {"$lt": 50}}]}).ids == (
        exact_cosine_ids(points, query, 5, mask=rare & (np.arange(N) % 100 < 50))
    )


def test_similar_excludes_the_record_itself(indexed: tuple[Collection, np.ndarray]) -> None:
    collection, points = indexed
    results = collection.similar("17", k=5, exact=True)
    assert "17" not in results.ids
    assert results.ids == [i for i in exact_cosine_ids(points, points[17], 6) if i != "17"][:5]
    filtered = collection.similar("17", k=3, filter={"group": 17})
    assert (
        "17" not in filtered.ids
        and all(hit.metadata["group"] == 17 for hit in filtered)
        and len(filtered) == 3
    )
    for missing in ("no-such-id", "nul\x00", "surrogate\udc80"):  # the last two could never be stored
        with pytest.raises(RecordNotFound):
            collection.similar(missing)


def _effective(conn: Any, settings: dict[str, str]) -> dict[str, str]:
    """What a search statement sees when run with ``settings``, the way searches run."""
    statement = sql.SQL(
        "SELECT current_setting('hnsw.ef_search') AS ef_search, "
        "current_setting('hnsw.iterative_scan') AS iterative_scan, "
        "current_setting('enable_indexscan') AS enable_indexscan"
    )
    return search_sql._run(conn, dict_row, statement, {}, settings)[0]


def test_search_settings_never_outlive_their_search(
    client: Client, indexed: tuple[Collection, np.ndarray]
) -> None:
    """pgvector's settings stay on the pooled connections (so a search is one round trip), but each
    search states all of them, and the exact scan's planner setting ends with its statement."""
    collection, _ = indexed
    query = _queries(8, 1)[0]
    collection.search(query, k=5, ef_search=321, filter={"group": 1})
    collection.search(query, k=5, exact=True)
    with ExitStack() as stack:  # every pooled connection at once, whichever ran the searches
        for _ in range(client.settings.pool_max_size):
            conn = stack.enter_context(client.database.connection())
            assert _effective(conn, {"hnsw.ef_search": "40"}) == {
                "ef_search": "40",
                "iterative_scan": "off",
                "enable_indexscan": "on",
            }
            assert conn.execute("SELECT current_setting('enable_indexscan')").fetchone() == ("on",)
            conn.rollback()
    with client.database.connection() as conn:
        wanted = {"hnsw.ef_search": "77", "hnsw.iterative_scan": "relaxed_order", "enable_indexscan": "off"}
        assert _effective(conn, wanted) == {
            "ef_search": "77",
            "iterative_scan": "relaxed_order",
            "enable_indexscan": "off",
        }
        assert conn.execute("SELECT current_setting('enable_indexscan')").fetchone() == ("on",)
        conn.rollback()


def test_exact_and_approximate_searches_never_share_a_cached_plan(
    client: Client, indexed: tuple[Collection, np.ndarray]
) -> None:
    """Both run the same statement text, which psycopg prepares after five runs, and PostgreSQL may
    then reuse one generic plan for it whatever the settings: exact searches would run through the
    index (or approximate ones as full scans). Every run must be planned under its own settings."""
    collection, points = indexed
    statement = sql.SQL("SELECT count(*) AS n FROM {} WHERE id <> %(id)s").format(
        sql.Identifier("pgsimilar", collection.info.table_name)
    )

    def plan(exact: bool, where: dict[str, object] | None) -> search_sql.SearchPlan:
        return search_sql.SearchPlan(
            vector=points[0],
            k=10,
            where=compile_filter(where),
            filtered=where is not None,
            exclude_id=None,
            exact=exact,
            metric=collection.info.metric,
            ef_search=None,
            probes=None,
        )

    for exact, where in ((True, None), (False, {"group": 7}), (True, {"group": 7})):
        settings = search_sql.query_settings(collection.info, plan(exact, where))
        with client.database.connection() as conn:
            conn.execute("DEALLOCATE ALL")
            conn.rollback()
            for _ in range(15):  # past psycopg's prepare threshold, then past PostgreSQL's five custom plans
                search_sql._run(conn, tuple_row, statement, {"id": "x"}, settings)
            plans = conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%count(*)%'"
            ).fetchall()
            conn.rollback()
        assert plans and all(generic == 0 and custom > 5 for generic, custom in plans), (exact, where, plans)
    for query in _queries(12, 8):  # and the searches themselves, alternating on reused connections
        collection.search(query, k=10, filter={"group": 7})
        exact = collection.search(query, k=10, filter={"group": 7}, exact=True)
        assert exact.ids == exact_cosine_ids(points, query, 10, mask=np.arange(N) % 100 == 7)


def _cached_plans(client: Client, collection: Collection, queries: np.ndarray, **options: Any) -> list[str]:
    """Run the searches on one pooled connection (the pool is LIFO), then show the plan each prepared
    statement of the collection's table would run with now, with the first query's values."""
    with client.database.connection(autocommit=True) as conn:
        conn.execute("DEALLOCATE ALL")  # only these searches' statements (psycopg forgets its own too)
    for query in queries:
        collection.search(query, k=5, **options)
    with client.database.connection(autocommit=True) as conn:
        assert conn.execute("SELECT current_setting('plan_cache_mode')").fetchone() == ("force_generic_plan",)
        prepared = conn.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            (f"%{collection.info.table_name}%",),
        ).fetchall()
        assert prepared and all(generic > 0 and custom == 0 for _, generic, custom in prepared), prepared
        vector = "[" + ",".join(str(float(x)) for x in queries[0]) + "]"
        plans = []
        for name, _, _ in prepared:
            (count,) = conn.execute(
                "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = %s", (name,)
            ).fetchone() or (0,)
            # The only parameter of an unfiltered search is the query vector (its limits are literals).
            assert count == 1
            values = sql.Literal(vector)
            rows = conn.execute(sql.SQL("EXPLAIN EXECUTE {}({})").format(sql.Identifier(name), values))
            plans.append("\n".join(row[0] for row in rows))
    return plans


def test_unfiltered_approximate_searches_reuse_one_generic_plan_through_the_index(
    client: Client, indexed: tuple[Collection, np.ndarray], unique_name: str
) -> None:
    """Their plan is the index scan whatever the query, so PostgreSQL is told not to plan each anew; the
    plan it keeps must be the index scan, for HNSW, IVFFlat and the binary-quantized index alike."""
    collection, _ = indexed
    queries = _queries(21, 12)
    [plan] = _cached_plans(client, collection, queries, ef_search=30)
    assert "Index Scan using" in plan and "embedding_idx" in plan
    for options in ({"index": "ivfflat"}, {"index": "hnsw", "quantization": "binary"}):
        other = client.create_collection(
            f"{unique_name}-{options['index']}", embedder="none", dimensions=DIMS, **options
        )
        try:
            points = _clustered(22, 2000)
            other.upsert({"id": str(i), "vector": points[i]} for i in range(2000))
            [plan] = _cached_plans(client, other, queries)
            assert "Index Scan using" in plan and "embedding_idx" in plan, plan
        finally:
            client.drop_collection(other.name)
    # A connection that served searches is put back to custom planning before anything else runs on it.
    with client.database.connection() as conn:
        assert conn.execute("SELECT current_setting('plan_cache_mode')").fetchone() == ("auto",)
    with client.database.connection(autocommit=True) as conn:
        assert conn.execute("SELECT current_setting('plan_cache_mode')").fetchone() == ("auto",)


def test_the_generic_plan_of_a_table_never_analyzed_is_the_index_scan(
    client: Client, unique_name: str
) -> None:
    """Written by ordinary upserts (no ANALYZE) with autovacuum kept away, the table has no statistics.
    Planned with an unknown LIMIT, the generic plan was a sequential scan and a sort of every row, kept
    for every later search (21 ms instead of 1 ms on 5,000 Fashion-MNIST vectors); the limit is written
    into the statement, so the generic plan is the custom one's index scan."""
    dims, n = 784, 3000
    collection = client.create_collection(unique_name, embedder="none", dimensions=dims, metric="l2")
    try:
        with client.database.connection() as conn:
            conn.execute(
                f"ALTER TABLE pgsimilar.{collection.info.table_name} SET (autovacuum_enabled = false)"
            )
        points = np.random.default_rng(5).random((n, dims), dtype=np.float32)
        for start in range(0, n, 1000):
            collection.upsert({"id": str(i), "vector": points[i]} for i in range(start, start + 1000))
        with client.database.connection() as conn:
            (reltuples,) = conn.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                (f"pgsimilar.{collection.info.table_name}",),
            ).fetchone() or (0,)
        assert reltuples < 0  # never analyzed
        [plan] = _cached_plans(client, collection, points[:8])
        assert "Index Scan using" in plan and "embedding_idx" in plan, plan
    finally:
        client.drop_collection(collection.name)


def test_search_settings_rolled_back_with_a_failed_statement_are_sent_again(client: Client) -> None:
    with client.database.connection() as conn:
        _effective(conn, {"hnsw.ef_search": "40"})
        with pytest.raises(psycopg.errors.DivisionByZero):
            search_sql._run(conn, tuple_row, sql.SQL("SELECT 1 / 0"), {}, {"hnsw.ef_search": "55"})
        # The failed statement's implicit transaction took the new value with it; had it been
        # remembered as set, this search would silently run with the old one.
        assert conn.execute("SELECT current_setting('hnsw.ef_search')").fetchone() == ("40",)
        conn.rollback()
        assert _effective(conn, {"hnsw.ef_search": "55"})["ef_search"] == "55"


def test_min_score(indexed: tuple[Collection, np.ndarray]) -> None:
    collection, _ = indexed
    query = _queries(9, 1)[0]
    everything = collection.search(query, k=50, exact=True)
    cut = everything[10].score
    kept = collection.search(query, k=50, exact=True, min_score=cut)
    assert kept.ids == [hit.id for hit in everything if hit.score >= cut]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"k": 0}, InvalidInput, "k must be"),
        ({"k": 1001}, InvalidInput, "k must be"),
        ({"k": True}, InvalidInput, "k must be"),
        ({"ef_search": 0}, InvalidInput, "ef_search"),
        ({"probes": -1}, InvalidInput, "probes"),
        ({"min_score": float("nan")}, InvalidInput, "min_score"),
        ({"filter": {"group": {"$between": [1, 2]}}}, InvalidFilter, "between"),
        ({"filter": {"$or": []}}, InvalidFilter, "or"),
        ({"filter": "group = 1; DROP TABLE x"}, InvalidFilter, "JSON object"),
    ],
)
def test_bad_search_arguments(
    indexed: tuple[Collection, np.ndarray], kwargs: dict[str, object], error: type, message: str
) -> None:
    collection, points = indexed
    with pytest.raises(error, match=message):
        collection.search(points[0], **kwargs)  # type: ignore[arg-type]


def test_bad_queries(indexed: tuple[Collection, np.ndarray]) -> None:
    collection, points = indexed
    with pytest.raises(DimensionMismatch, match="24"):
        collection.search([1.0, 2.0])
    with pytest.raises(InvalidVector, match="NaN"):
        collection.search([float("nan")] * DIMS)
    with pytest.raises(InvalidInput, match="exactly one"):
        collection.search(text="a", vector=points[0])
    with pytest.raises(InvalidInput, match="exactly one"):
        collection.search()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "NaN"),
        (np.inf, "NaN or infinity"),
        (-np.inf, "NaN or infinity"),
        (np.finfo(np.float32).max, None),  # the largest float32 is a valid value
    ],
)
def test_float32_query_vectors_are_checked_like_any_other(
    indexed: tuple[Collection, np.ndarray], value: float, message: str | None
) -> None:
    """float32 arrays (what embedders return) take a quicker check: it must refuse what the full
    check refuses, with the same message, and accept what it accepts."""
    collection, points = indexed
    query = points[0].copy()
    query[5] = value
    if message is None:
        assert len(collection.search(query, k=3, exact=True)) == 3
    else:
        with pytest.raises(InvalidVector, match=message):
            collection.search(query)
    with pytest.raises(InvalidVector, match="zero vector"):
        collection.search(np.zeros(DIMS, dtype=np.float32))
    tiny = np.full(DIMS, 1e-30, dtype=np.float32)  # its squares underflow to 0, but it has a direction
    assert len(collection.search(tiny, k=3, exact=True)) == 3


def test_float32_vectors_at_the_halfvec_limit(client: Client, unique_name: str) -> None:
    """halfvec holds values up to 65504; the quick check must not let a larger one through, even when
    the vector's other values are zero (its sum of squares is then just that value's square)."""
    collection = client.create_collection(
        unique_name, embedder="none", dimensions=4, metric="l2", index="none", storage="halfvec"
    )
    try:
        collection.upsert([{"id": "a", "vector": [1.0, 0.0, 0.0, 0.0]}])
        at_limit = np.array([65504.0, 0.0, 0.0, 0.0], dtype=np.float32)
        assert collection.search(at_limit, k=1).ids == ["a"]
        for over in (65505.0, 65536.0, 1e6):
            with pytest.raises(InvalidVector, match="65504"):
                collection.search(np.array([over, 0.0, 0.0, 0.0], dtype=np.float32))
    finally:
        client.drop_collection(unique_name)


def test_searches_by_vector_and_by_id_after_a_collection_is_made_again_differently(
    client: Client, unique_name: str
) -> None:
    """Unfiltered statements are rendered once per collection and shape: a collection dropped and
    made again under the same name with other dimensions and metric must get its own."""
    first = client.create_collection(unique_name, embedder="none", dimensions=3, metric="cosine")
    first.upsert([{"id": "x", "vector": [1.0, 0.0, 0.0]}, {"id": "y", "vector": [0.0, 1.0, 0.0]}])
    assert first.search([1.0, 0.1, 0.0], k=2).ids == ["x", "y"]
    assert first.similar("x", k=1).ids == ["y"]
    client.drop_collection(unique_name)
    second = client.create_collection(unique_name, embedder="none", dimensions=2, metric="l2")
    try:
        second.upsert([{"id": "p", "vector": [0.0, 0.0]}, {"id": "q", "vector": [10.0, 0.0]}])
        results = second.search([9.0, 0.0], k=2)
        assert results.ids == ["q", "p"]
        assert [hit.distance for hit in results] == pytest.approx([1.0, 9.0])
        assert second.similar("p", k=1).ids == ["q"]
    finally:
        client.drop_collection(unique_name)


@pytest.mark.parametrize(
    ("metric", "index"), [("l2", "hnsw"), ("inner_product", "ivfflat"), ("cosine", "none")]
)
def test_distances_and_scores_for_each_metric(
    client: Client, unique_name: str, metric: str, index: str
) -> None:
    collection = client.create_collection(
        unique_name, embedder="none", dimensions=3, metric=metric, index=index
    )
    try:
        stored = {"a": [1.0, 0.0, 0.0], "b": [0.0, 2.0, 0.0], "c": [1.0, 1.0, 1.0], "d": [3.0, 0.5, 0.0]}
        collection.upsert([{"id": key, "vector": value} for key, value in stored.items()])
        query = np.array([2.0, 1.0, 0.0])
        results = collection.search(query, k=4)
        for hit in results:
            vector = np.array(stored[hit.id])
            if metric == "l2":
                assert hit.distance == pytest.approx(np.linalg.norm(vector - query), rel=1e-6)
                assert hit.score == pytest.approx(1 / (1 + hit.distance))
            elif metric == "inner_product":
                assert hit.distance == pytest.approx(-(vector @ query), rel=1e-6)
                assert hit.score == pytest.approx(vector @ query)
            else:
                cosine = vector @ query / np.linalg.norm(vector) / np.linalg.norm(query)
                assert hit.distance == pytest.approx(1 - cosine, abs=1e-6)
                assert hit.score == pytest.approx(cosine, abs=1e-6)
        assert [hit.distance for hit in results] == sorted(hit.distance for hit in results)
        assert [hit.score for hit in results] == sorted((hit.score for hit in results), reverse=True)
    finally:
        client.drop_collection(unique_name)


def test_ivfflat_index_is_built_after_the_first_load_and_probes_apply(
    client: Client, unique_name: str
) -> None:
    collection = client.create_collection(unique_name, embedder="none", dimensions=DIMS, index="ivfflat")
    try:
        points = _clustered(10, 3000)
        collection.upsert({"id": str(i), "vector": points[i], "metadata": {"g": i % 10}} for i in range(3000))
        with client.database.connection() as conn:
            row = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                (f"c{collection.info.id}_embedding_idx",),
            ).fetchone()
        assert row is not None and "ivfflat" in row[0] and "lists='3'" in row[0]
        query = _queries(11, 1)[0]
        results = collection.search(query, k=10, probes=3, explain=True)
        assert results.explain is not None and results.explain.settings == {
            "ivfflat.probes": "3",
            "plan_cache_mode": "force_generic_plan",
        }
        assert results.ids == exact_cosine_ids(points, query, 10)  # probes = lists: every list is visited
        filtered = collection.search(query, k=10, filter={"g": 3})
        assert len(filtered) == 10 and all(hit.metadata["g"] == 3 for hit in filtered)
    finally:
        client.drop_collection(unique_name)


def test_text_search_with_minilm(text_collection: Collection) -> None:
    text_collection.upsert(
        [
            {
                "id": "pg",
                "text": "PostgreSQL is an open source relational database",
                "metadata": {"topic": "tech"},
            },
            {"id": "cat", "text": "The cat curled up and slept on the sofa", "metadata": {"topic": "pets"}},
            {"id": "dog", "text": "Dogs love to fetch sticks in the park", "metadata": {"topic": "pets"}},
            {"id": "pasta", "text": "Boil the spaghetti for nine minutes", "metadata": {"topic": "food"}},
        ]
    )
    assert text_collection.search("which database should I use?", k=1).ids == ["pg"]
    assert text_collection.search("a sleepy kitten", k=1).ids == ["cat"]
    assert text_collection.search("a sleepy kitten", k=2, filter={"topic": {"$ne": "pets"}}).ids[0] != "cat"
    results = text_collection.search("cooking dinner", k=4, explain=True)
    assert results.ids[0] == "pasta"
    assert results.explain is not None and "<=>" in results.explain.sql and results.explain.embed_ms > 0
    with pytest.raises(InvalidInput, match="empty"):
        text_collection.search("   ")
    for bad in ("a\x00b", "caf\udce9"):  # NUL or a lone surrogate: PostgreSQL could not take the text
        for mode in ("vector", "keyword", "hybrid"):
            with pytest.raises(InvalidInput, match="not valid Unicode text"):
                text_collection.search(bad, mode=mode)


def test_another_metric_per_query_is_an_exact_search_with_its_operator(
    indexed: tuple[Collection, np.ndarray],
) -> None:
    collection, points = indexed
    query = _queries(12, 1)[0]
    results = collection.search(query, k=5, metric="l2", explain=True)
    expected = np.argsort(np.linalg.norm(points - query, axis=1), kind="stable")[:5]
    assert results.ids == [str(i) for i in expected]
    assert results.explain is not None and results.explain.exact and "<->" in results.explain.sql
    assert results[0].distance == pytest.approx(float(np.linalg.norm(points[expected[0]] - query)), rel=1e-5)
    assert results[0].score == pytest.approx(1 / (1 + results[0].distance))
    with pytest.raises(InvalidInput, match="metric"):
        collection.search(query, metric="manhattan")


def test_image_queries_need_an_image_embedder(text_collection: Collection) -> None:
    from pgsimilar import UnsupportedModality

    with pytest.raises(UnsupportedModality, match="does not embed images"):
        text_collection.search(image=b"\x89PNG\r\n\x1a\n")
    with pytest.raises(InvalidInput, match="exactly one"):
        text_collection.search(text="a", image=b"png")
