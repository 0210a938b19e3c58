"""Keyword (PostgreSQL full-text) and hybrid (reciprocal rank fusion) search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgsimilar import Client, Collection, InvalidInput
from pgsimilar.core.fusion import reciprocal_rank_fusion

DOCS = [
    ("pg", "PostgreSQL stores relational data and answers SQL queries", {"topic": "databases", "year": 1996}),
    ("vec", "pgvector adds vector similarity search to PostgreSQL", {"topic": "databases", "year": 2021}),
    ("cat", "The cat sleeps on the warm windowsill all afternoon", {"topic": "pets", "year": 2020}),
    ("dog", "A dog fetches the ball in the park", {"topic": "pets", "year": 2019}),
    ("bread", "Knead the dough and bake the bread for forty minutes", {"topic": "cooking", "year": 2018}),
    ("soup", "A warm vegetable soup for cold winter evenings", {"topic": "cooking", "year": 2022}),
]


@pytest.fixture(scope="module")
def docs(client: Client) -> Iterator[Collection]:
    name = "hybrid-fixture"
    client.drop_collection(name, missing_ok=True)
    collection = client.create_collection(name)
    collection.upsert([{"id": i, "text": t, "metadata": m} for i, t, m in DOCS])
    yield collection
    client.drop_collection(name)


def test_fusion_of_a_hand_made_case() -> None:
    # a: 1/61 + 1/62 = 0.032522; c: 1/63 + 1/61 = 0.032266; b: 1/62 = 0.016129; d: 1/63 = 0.015873
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]])
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3][1] == pytest.approx(1 / 63)
    # Weighting the second list 3:1 puts c (first there) ahead: c = 1/63 + 3/61, a = 1/61 + 3/62.
    weighted = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], weights=[1.0, 3.0])
    assert [item for item, _ in weighted][:2] == ["c", "a"]
    assert reciprocal_rank_fusion([["x", "x", "y"]], k=1) == [("x", 0.5), ("y", pytest.approx(1 / 4))]
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])


def test_keyword_search_matches_words_and_ranks_them(docs: Collection) -> None:
    results = docs.search("warm soup", mode="keyword", k=5)
    assert results.ids[0] == "soup"  # both words
    assert set(results.ids) == {"soup", "cat"}  # "warm" alone matches the cat
    assert all(hit.distance is None and hit.score > 0 for hit in results)
    assert docs.search("baking", mode="keyword").ids == ["bread"]  # stemmed: bake, baking
    assert docs.search("the and of", mode="keyword").ids == []  # only stop words: nothing to match


def test_web_search_syntax_keeps_its_meaning(docs: Collection) -> None:
    assert docs.search('"vector similarity"', mode="keyword").ids == ["vec"]
    assert set(docs.search("postgresql -vector", mode="keyword").ids) == {"pg"}
    assert set(docs.search("cat or dog", mode="keyword").ids) == {"cat", "dog"}


def test_filters_and_min_score_in_every_mode(docs: Collection) -> None:
    for mode in ("vector", "keyword", "hybrid"):
        results = docs.search("warm food for winter", mode=mode, k=5, filter={"topic": "cooking"})
        assert results.ids and all(hit.metadata["topic"] == "cooking" for hit in results), mode
        everything = docs.search("warm food for winter", mode=mode, k=6)
        cut = everything[0].score
        assert [hit.id for hit in docs.search("warm food for winter", mode=mode, k=6, min_score=cut)] == [
            hit.id for hit in everything if hit.score >= cut
        ], mode


def test_hybrid_is_the_fusion_of_the_two_lists(docs: Collection) -> None:
    text = "PostgreSQL vector search"
    vector = docs.search(text, k=100, exact=True).ids
    keyword = docs.search(text, mode="keyword", k=100).ids
    hybrid = docs.search(text, mode="hybrid", k=4, exact=True, explain=True)
    expected = reciprocal_rank_fusion([vector, keyword])[:4]
    assert [(hit.id, hit.score) for hit in hybrid] == [
        (item, pytest.approx(score)) for item, score in expected
    ]
    assert all(hit.distance is not None for hit in hybrid if hit.id in vector)
    assert (
        hybrid.explain is not None and "<=>" in hybrid.explain.sql and "content_tsv @@" in hybrid.explain.sql
    )
    weighted = docs.search(text, mode="hybrid", k=4, exact=True, weights=(0.0, 1.0))
    assert weighted.ids == keyword[:4]


def test_bad_mode_arguments(docs: Collection) -> None:
    with pytest.raises(InvalidInput, match="search mode"):
        docs.search("x", mode="semantic")
    with pytest.raises(InvalidInput, match="needs a text query"):
        docs.search(vector=[0.1] * 384, mode="keyword")
    with pytest.raises(InvalidInput, match="weights"):
        docs.search("x", mode="hybrid", weights=(1.0, -1.0))
    with pytest.raises(InvalidInput, match="rrf_k"):
        docs.search("x", mode="hybrid", rrf_k=0)


def test_text_language_is_checked_and_used(client: Client, unique_name: str) -> None:
    with pytest.raises(InvalidInput, match="text-search language"):
        client.create_collection(unique_name, text_language="klingon")
    french = client.create_collection(unique_name, embedder="none", dimensions=2, text_language="french")
    try:
        french.upsert([{"id": "1", "text": "Les chats dorment beaucoup", "vector": [1, 0]}])
        assert french.search("chat", mode="keyword").ids == ["1"]  # French stemming: chats -> chat
    finally:
        client.drop_collection(unique_name)


def test_keyword_search_reads_the_full_text_index_of_records_with_content(
    client: Client, unique_name: str
) -> None:
    """The full-text index leaves out records without content (vectors or pictures alone: no words to
    find), and keyword searches say so, so that the planner can use it."""
    collection = client.create_collection(unique_name, embedder="none", dimensions=2)
    try:
        words = ["alpha", "beta", "gamma", "delta"]
        with_content = [
            {"id": f"t{i}", "text": f"note {i} about {words[i % 4]}", "vector": [1.0, i + 1.0]}
            for i in range(2000)
        ]
        rare = {"id": "rare", "text": "a note about a zeppelin", "vector": [1.0, 0.5]}
        vector_only = [{"id": f"v{i}", "vector": [i + 1.0, 1.0]} for i in range(2000)]
        collection.upsert([*with_content, rare, *vector_only])
        table = f"pgsimilar.{collection.info.table_name}"
        with client.database.connection() as conn:
            conn.execute(f"ANALYZE {table}")
            (definition,) = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgsimilar' AND indexname = %s",
                (f"c{collection.info.id}_content_tsv_idx",),
            ).fetchone() or ("",)
        assert definition.endswith("WHERE (content IS NOT NULL)"), definition
        results = collection.search("zeppelin", mode="keyword", explain=True)
        assert results.ids == ["rare"]
        assert results.explain is not None
        # Every read of matching records uses it: the count of each word's documents, and the documents
        # ranked (those of the rarest words first, then the rest).
        index_scans = results.explain.plan.count(f"Index Scan on c{collection.info.id}_content_tsv_idx")
        assert index_scans == 3, results.explain.plan
    finally:
        client.drop_collection(collection.name)
