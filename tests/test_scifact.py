"""BEIR SciFact embedded with the real minilm model: exact search is brute force over what is stored.

The collection is the session's ``scifact`` fixture (conftest.py), embedded once and shared with the
score reproduction in test_scifact_eval.py.
"""

from __future__ import annotations

import numpy as np

from pgsimilar import Collection
from pgsimilar.core.evaluation import BeirData
from pgsimilar.core.loaders import records_from_jsonl

QUERIES = 30


def test_exact_search_is_brute_force_over_the_stored_vectors(scifact: tuple[Collection, BeirData]) -> None:
    collection, data = scifact
    ids = [record.id for record in records_from_jsonl(data.corpus)]
    stored = np.stack([record.vector for record in collection.get_many(ids, include_vectors=True)])  # type: ignore[misc]
    assert len(stored) == len(ids) == 5183
    texts = [text for _, text in sorted(data.queries.items())[:QUERIES]]
    query_vectors = collection.embedder.embed_texts(texts)
    for query_vector, text in zip(query_vectors, texts, strict=True):
        expected = [ids[i] for i in np.argsort(-(stored @ query_vector), kind="stable")[:10]]
        assert collection.search(text, k=10, exact=True).ids == expected
