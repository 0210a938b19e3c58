"""Binary quantization: an HNSW index over one bit per dimension, candidates by Hamming distance
re-ranked by the full-precision distance, in one statement."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from pgsimilar import Client, Collection, IndexKind, InvalidInput, Quantization

from .clustered import embedding_like, exact_cosine_ids, recall

DIMS = 256
N = 4000


@pytest.fixture(scope="module")
def binary(client: Client) -> Iterator[tuple[Collection, np.ndarray]]:
    """4,000 embedding-like 256-d vectors; metadata 'g' (0-99) and 'rare' (8 records)."""
    name = "quantization-fixture"
    client.drop_collection(name, missing_ok=True)
    collection = client.create_collection(
        name, embedder="none", dimensions=DIMS, quantization="binary", index="none"
    )
    points = embedding_like(N, DIMS, seed=1)
    collection.upsert(
        {"id": str(i), "vector": points[i], "metadata": {"g": i % 100, "rare": i % 500 == 7}}
        for i in range(N)
    )
    collection.create_index("hnsw")  # built after the load: the bit index over binary_quantize(embedding)
    yield collection, points
    client.drop_collection(name)


def test_the_index_holds_the_binary_quantized_vectors(
    client: Client, binary: tuple[Collection, np.ndarray]
) -> None:
    collection, _ = binary
    assert collection.info.quantization is Quantization.BINARY
    assert client.get_collection(collection.name).info.quantization is Quantization.BINARY
    with client.database.connection() as conn:
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (f"c{collection.info.id}_embedding_idx",)
        ).fetchone()
        catalogue = conn.execute(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_schema = 'pgsimilar' AND table_name = 'collections' AND column_name = 'quantization'"
        ).fetchone()
    assert row is not None
    assert "USING hnsw (((binary_quantize(embedding))::bit(256)) bit_hamming_ops)" in row[0]
    assert catalogue is not None and "'none'" in catalogue[0]


def test_approximate_search_reranks_hamming_candidates_at_full_precision(
    binary: tuple[Collection, np.ndarray],
) -> None:
    collection, points = binary
    queries = embedding_like(30, DIMS, seed=2)
    by_rerank: dict[int, float] = {}
    for rerank in (1, 4, 16):
        found = [collection.search(query, k=10, rerank=rerank).ids for query in queries]
        by_rerank[rerank] = float(
            np.mean(
                [recall(ids, exact_cosine_ids(points, q, 10)) for ids, q in zip(found, queries, strict=True)]
            )
        )
    assert by_rerank[1] < by_rerank[4] <= by_rerank[16]
    assert by_rerank[4] >= 0.9 and by_rerank[16] >= 0.97, by_rerank
    results = collection.search(queries[0], k=10, explain=True)
    assert results.explain is not None and results.explain.rerank == 4
    assert "<~>" in results.explain.sql and "<=>" in results.explain.sql
    assert "Index Scan using" in results.explain.plan and "embedding_idx" in results.explain.plan
    hit = results[0]  # distances are the full-precision cosine distances, not Hamming ones
    vector = points[int(hit.id)]
    cosine = vector @ queries[0] / np.linalg.norm(vector) / np.linalg.norm(queries[0])
    assert hit.distance == pytest.approx(1 - cosine, abs=1e-5)


def test_exact_search_and_similar_still_work(binary: tuple[Collection, np.ndarray]) -> None:
    collection, points = binary
    query = embedding_like(1, DIMS, seed=3)[0]
    exact = collection.search(query, k=10, exact=True, explain=True)
    assert exact.ids == exact_cosine_ids(points, query, 10)
    assert exact.explain is not None and "<~>" not in exact.explain.sql and exact.explain.rerank is None
    similar = collection.similar("42", k=5)
    assert "42" not in similar.ids and len(similar) == 5


def test_filtered_search_returns_k_hits_when_k_exist(binary: tuple[Collection, np.ndarray]) -> None:
    collection, points = binary
    groups = np.arange(N) % 100
    for seed, group in ((4, 3), (5, 61)):
        query = embedding_like(1, DIMS, seed=seed)[0]
        results = collection.search(query, k=10, filter={"g": group})
        assert len(results) == 10 and all(hit.metadata["g"] == group for hit in results)
        assert recall(results.ids, exact_cosine_ids(points, query, 10, mask=groups == group)) >= 0.9
    rare = np.array([i % 500 == 7 for i in range(N)])
    query = embedding_like(1, DIMS, seed=6)[0]
    few = collection.search(query, k=10, filter={"rare": True})
    assert few.ids == exact_cosine_ids(points, query, 10, mask=rare) and len(few) == 8


def test_binary_quantization_is_refused_with_ivfflat_and_lifts_the_dimension_limit(
    client: Client, unique_name: str
) -> None:
    with pytest.raises(InvalidInput, match="HNSW"):
        client.create_collection(
            unique_name, embedder="none", dimensions=8, quantization="binary", index="ivfflat"
        )
    with pytest.raises(InvalidInput, match="quantization"):
        client.create_collection(unique_name, embedder="none", dimensions=8, quantization="int8")
    wide = client.create_collection(unique_name, embedder="none", dimensions=3000, quantization="binary")
    try:
        assert wide.info.index.kind is IndexKind.HNSW and wide.index_built()  # bit(3000) is indexable
        with pytest.raises(InvalidInput, match="HNSW"):
            wide.create_index("ivfflat")
        rng = np.random.default_rng(8)
        points = rng.normal(size=(20, 3000)).astype(np.float32)
        wide.upsert({"id": str(i), "vector": points[i]} for i in range(20))
        assert wide.search(points[5], k=1).ids == ["5"]
    finally:
        client.drop_collection(unique_name)


def test_tuning_a_binary_collection_picks_a_rerank_factor(binary: tuple[Collection, np.ndarray]) -> None:
    collection, _ = binary
    try:
        result = collection.tune(0.95, sample=60)
        assert result.parameter == "rerank" and result.reached
        assert collection.info.search_defaults == {"rerank": result.value}
        explained = collection.search(embedding_like(1, DIMS, seed=9)[0], k=10, explain=True).explain
        assert explained is not None and explained.rerank == result.value
    finally:
        collection.rebuild_index()  # keeps the tuned value (same index settings)
        assert collection.info.search_defaults == {"rerank": result.value}
