"""Keyword search ranks by BM25 exactly, though it scores only the documents that can reach the top k:
compared with BM25 computed here over the lexemes PostgreSQL made of each document."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest

from pgsimilar import Client, Collection
from pgsimilar.storage.keyword import BM25_B, BM25_K1

DOCUMENTS = 3000
VOCABULARY = [f"w{i}" for i in range(1, 801)]  # "w1" in most documents, "w800" in a handful


def _zipf_documents(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, len(VOCABULARY) + 1)
    lengths = rng.integers(5, 60, count)
    return [" ".join(rng.choice(VOCABULARY, size=n, p=weights / weights.sum())) for n in lengths]


@pytest.fixture(scope="module")
def corpus(client: Client) -> Iterator[tuple[Collection, dict[str, Counter[str]], dict[str, int]]]:
    """A collection of Zipf-distributed words (and records without content, which are not documents),
    with each document's term frequencies and group as PostgreSQL stored them."""
    name = "keyword-ranking-fixture"
    client.drop_collection(name, missing_ok=True)
    collection = client.create_collection(name, embedder="none", dimensions=2)
    texts = _zipf_documents(DOCUMENTS, seed=3)
    collection.upsert(
        [
            {"id": f"d{i}", "text": text, "vector": [1.0, i], "metadata": {"g": i % 3}}
            for i, text in enumerate(texts)
        ]
        + [{"id": f"v{i}", "vector": [i, 1.0]} for i in range(500)]
    )
    frequencies = _stored_frequencies(client, collection)
    groups = {f"d{i}": i % 3 for i in range(DOCUMENTS)}
    yield collection, frequencies, groups
    client.drop_collection(name)


def _stored_frequencies(client: Client, collection: Collection) -> dict[str, Counter[str]]:
    """Each document's lexemes and their frequencies, as PostgreSQL made them."""
    with client.database.connection() as conn:
        rows = conn.execute(
            f"SELECT id, u.lexeme, coalesce(array_length(u.positions, 1), 1) "
            f"FROM pgsimilar.{collection.info.table_name}, unnest(content_tsv) AS u "
            "WHERE content IS NOT NULL"
        ).fetchall()
    frequencies: dict[str, Counter[str]] = {}
    for record_id, lexeme, tf in rows:
        frequencies.setdefault(record_id, Counter())[lexeme] = tf
    return frequencies


def _bm25_top(
    frequencies: dict[str, Counter[str]], words: list[str], k: int, keep: set[str] | None = None
) -> list[tuple[str, float]]:
    """BM25 over every document: N and the mean length over all documents, length in distinct lexemes."""
    n = len(frequencies)
    mean_length = sum(len(tf) for tf in frequencies.values()) / n
    idf = {}
    for word in set(words):
        df = sum(1 for tf in frequencies.values() if word in tf)
        idf[word] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    scores = []
    for record_id, tf in frequencies.items():
        if keep is not None and record_id not in keep:
            continue
        present = [word for word in idf if word in tf]
        if not present:
            continue
        norm = BM25_K1 * (1 - BM25_B + BM25_B * len(tf) / mean_length)
        score = sum(idf[w] * tf[w] * (BM25_K1 + 1) / (tf[w] + norm) for w in present)
        scores.append((record_id, score))
    scores.sort(key=lambda item: (-item[1], item[0]))
    return scores[:k]


QUERIES = [
    ["w1"],  # most documents: every one is scored
    ["w1", "w2", "w3"],  # common words only
    ["w1", "w700"],  # a rare word and a common one: the common one's documents are not scored
    ["w5", "w40", "w300"],
    ["w790", "w795", "w799"],  # fewer than k documents hold them
    ["w20", "w25"],  # similar frequencies: both lists are ranked
    ["w2", "w150", "w151", "w600"],
]


@pytest.mark.parametrize("words", QUERIES, ids=["-".join(q) for q in QUERIES])
@pytest.mark.parametrize("k", [1, 10, 60])
def test_the_top_k_is_bm25s(
    corpus: tuple[Collection, dict[str, Counter[str]], dict[str, int]], words: list[str], k: int
) -> None:
    collection, frequencies, _ = corpus
    expected = _bm25_top(frequencies, words, k)
    results = collection.search(" ".join(words), mode="keyword", k=k)
    assert results.ids == [record_id for record_id, _ in expected]
    assert [hit.score for hit in results] == pytest.approx([score for _, score in expected], rel=1e-9)


def test_the_top_k_of_random_queries_is_bm25s(
    corpus: tuple[Collection, dict[str, Counter[str]], dict[str, int]],
) -> None:
    """Words from across the frequencies, so that the bar falls between words' bounds in every way."""
    collection, frequencies, _ = corpus
    rng = np.random.default_rng(11)
    for _ in range(80):
        positions = np.minimum(rng.geometric(0.02, size=rng.integers(1, 5)), len(VOCABULARY)) - 1
        words = [VOCABULARY[p] for p in positions]
        k = int(rng.integers(1, 30))
        expected = _bm25_top(frequencies, words, k)
        results = collection.search(" ".join(words), mode="keyword", k=k)
        assert results.ids == [record_id for record_id, _ in expected], (words, k)
        assert [hit.score for hit in results] == pytest.approx([score for _, score in expected], rel=1e-9)


@pytest.mark.parametrize("words", [["w1", "w700"], ["w20", "w25"], ["w3"]])
def test_the_top_k_among_filtered_documents_is_bm25s(
    corpus: tuple[Collection, dict[str, Counter[str]], dict[str, int]], words: list[str]
) -> None:
    collection, frequencies, groups = corpus
    keep = {record_id for record_id, group in groups.items() if group == 1}
    expected = _bm25_top(frequencies, words, 10, keep)
    results = collection.search(" ".join(words), mode="keyword", k=10, filter={"g": 1})
    assert results.ids == [record_id for record_id, _ in expected]
    assert [hit.score for hit in results] == pytest.approx([score for _, score in expected], rel=1e-9)


def test_documents_that_cannot_reach_the_top_k_are_not_scored(
    corpus: tuple[Collection, dict[str, Counter[str]], dict[str, int]],
) -> None:
    collection, frequencies, _ = corpus
    holding_w1 = sum(1 for tf in frequencies.values() if "w1" in tf)
    holding_w700 = sum(1 for tf in frequencies.values() if "w700" in tf)
    assert holding_w1 > DOCUMENTS / 2 and 10 <= holding_w700 < 50
    plan = collection.search("w1 w700", mode="keyword", k=10, explain=True).explain
    assert plan is not None
    # The documents ranked are those holding w700; the other words' (here w1's) are not read at all.
    scans = [line for line in plan.plan.splitlines() if "Bitmap Heap Scan on" in line and " d_" in line]
    assert sorted(re.findall(r"rows=(\d+)\.00 loops", " ".join(scans))) == sorted(["0", str(holding_w700)])


def test_a_document_just_under_a_words_bound_is_not_pruned(client: Client, unique_name: str) -> None:
    """The case pruning must get right: the two documents holding the rare word set the bar, and one
    short document repeating the commoner word scores just above it, 4% under that word's bound."""

    def filler(doc: int) -> str:
        return " ".join(f"x{doc}y{j}" for j in range(40))

    texts = {f"rare{i}": f"rare {filler(i)}" for i in range(2)}
    texts |= {f"common{i}": f"common {filler(10 + i)}" for i in range(24)}
    texts["short"] = " ".join(["common"] * 20)
    texts |= {f"other{i}": filler(100 + i) for i in range(173)}
    collection = client.create_collection(unique_name, embedder="none", dimensions=2)
    try:
        collection.upsert([{"id": key, "text": text, "vector": [1.0, 2.0]} for key, text in texts.items()])
        expected = _bm25_top(_stored_frequencies(client, collection), ["rare", "common"], 2)
        assert expected[0][0] == "short" and expected[1][0].startswith("rare")
        n, df = len(texts), 25
        bound = math.log(1 + (n - df + 0.5) / (df + 0.5)) * (BM25_K1 + 1)
        assert 1 < bound / expected[1][1] < 1.05  # the bar is within 5% of the bound
        results = collection.search("rare common", mode="keyword", k=2)
        assert results.ids == [record_id for record_id, _ in expected]
        assert [hit.score for hit in results] == pytest.approx([score for _, score in expected], rel=1e-9)
    finally:
        client.drop_collection(unique_name)
