"""A collection embedded by the `openai` embedder, end to end against a local OpenAI-protocol server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgsimilar import Client, Settings

from .openai_stub import DEFAULT_KEY, OpenAIStub


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def test_openai_collection_stores_and_searches_with_the_models_vectors(
    client: Client, stub: OpenAIStub, unique_name: str
) -> None:
    settings = Settings(
        data_dir=client.settings.data_dir,
        database_url=client.settings.database_url,
        openai_base_url=stub.url,
        openai_api_key=DEFAULT_KEY,
    )
    with Client(settings=settings) as openai_client:
        collection = openai_client.create_collection(unique_name, embedder="openai", dimensions=256)
        try:
            assert collection.dimensions == 256
            assert collection.info.embedder_options["model"] == "text-embedding-3-small"
            texts = {
                "pg": "postgres vector search with pgvector",
                "cat": "a cat sleeping on a warm windowsill",
                "bread": "baking sourdough bread at home",
            }
            collection.upsert([{"id": key, "text": text} for key, text in texts.items()])
            stored = collection.get("pg", include_vector=True)
            expected = stub.expected(texts["pg"], "text-embedding-3-small", 256)
            assert stored.vector is not None
            assert stored.vector.tolist() == pytest.approx(expected.tolist(), abs=1e-6)

            results = collection.search("postgres vector search", k=3)
            assert results.ids[0] == "pg"
            sent = [request.body for request in stub.requests if request.path.endswith("/embeddings")]
            assert all(body["dimensions"] == 256 for body in sent)
            assert sent[-1]["input"] == ["postgres vector search"]
        finally:
            openai_client.drop_collection(unique_name)
