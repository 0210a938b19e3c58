"""The compatibility endpoints, exactly as their users call them: ``POST /embed`` and ``POST
/search/pgvector``, with the local minilm model and with the ``openai`` embedder (against the stub)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient

from pgsimilar import Client
from pgsimilar.config import Settings

from .api_helpers import assert_error, collection_path, new_name, serve, variant
from .openai_stub import DEFAULT_KEY, OpenAIStub

CHUNKS = {
    "pg": "postgres vector search with pgvector",
    "cat": "a cat sleeping on a warm windowsill",
    "bread": "baking sourdough bread at home",
    "rain": "heavy rain and thunder over the city tonight",
}
DISTANCES = ("cosine", "l2", "inner_product")


def distance(metric: str, query: npt.NDArray[np.float64], stored: npt.NDArray[np.float64]) -> float:
    """What pgvector's operator returns: ``<=>``, ``<->`` or ``<#>`` (the negative inner product)."""
    if metric == "cosine":
        return float(1 - query @ stored / (np.linalg.norm(query) * np.linalg.norm(stored)))
    if metric == "l2":
        return float(np.linalg.norm(query - stored))
    return float(-(query @ stored))


class Compat:
    """An app whose compatibility endpoints use a collection of their own."""

    def __init__(self, http: TestClient, client: Client) -> None:
        self.http = http
        self.client = client
        self.collection = client.settings.compat_collection

    def embed(self, chunk_id: str, text: str) -> dict[str, Any]:
        response = self.http.post("/embed", json={"chunkId": chunk_id, "text": text})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def search(self, **body: Any) -> list[dict[str, Any]]:
        response = self.http.post("/search/pgvector", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert list(answer) == ["results"]
        for hit in answer["results"]:
            assert set(hit) == {"chunkId", "score"}
        results: list[dict[str, Any]] = answer["results"]
        return results

    def stored_vector(self, chunk_id: str) -> npt.NDArray[np.float64]:
        path = collection_path("default", self.collection, "records", chunk_id)
        response = self.http.get(path, params={"include_vector": True})
        assert response.status_code == 200, response.text
        return np.asarray(response.json()["vector"], dtype=np.float64)


def compat_app(settings: Settings, **changes: Any) -> tuple[Client, Settings]:
    compat_settings = variant(settings, auth="auto", compat_collection=new_name(), **changes)
    return Client(settings=compat_settings), compat_settings


@pytest.fixture(scope="module")
def minilm(settings: Settings) -> Iterator[Compat]:
    client, compat_settings = compat_app(settings, compat_embedder="minilm")
    try:
        with serve(compat_settings, client) as http:
            yield Compat(http, client)
    finally:
        client.drop_collection(compat_settings.compat_collection, missing_ok=True)
        client.close()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.fixture(scope="module")
def openai(settings: Settings, stub: OpenAIStub) -> Iterator[Compat]:
    client, compat_settings = compat_app(
        settings,
        compat_embedder="openai",
        openai_base_url=stub.url,
        openai_api_key=DEFAULT_KEY,
        openai_dimensions=None,
        openai_model="text-embedding-3-small",
        openai_max_retries=0,
    )
    try:
        with serve(compat_settings, client) as http:
            yield Compat(http, client)
    finally:
        client.drop_collection(compat_settings.compat_collection, missing_ok=True)
        client.close()


def check_distances(
    compat: Compat, query: str, query_vector: npt.NDArray[np.float64], chunk_ids: list[str]
) -> None:
    """For each metric, /search/pgvector answers pgvector's distances to the stored vectors, ascending."""
    stored = {chunk_id: compat.stored_vector(chunk_id) for chunk_id in chunk_ids}
    limit = len(chunk_ids) - 1
    for metric in DISTANCES:
        results = compat.search(query=query, limit=limit, distance=metric)
        assert len(results) == limit, metric
        for hit in results:  # chunks another test left behind are checked as well
            if hit["chunkId"] not in stored:
                stored[hit["chunkId"]] = compat.stored_vector(hit["chunkId"])
        expected = {chunk_id: distance(metric, query_vector, vector) for chunk_id, vector in stored.items()}
        scores = [hit["score"] for hit in results]
        assert scores == sorted(scores), metric
        for hit in results:
            assert hit["score"] == pytest.approx(expected[hit["chunkId"]], abs=1e-4), metric
        left_out = set(expected) - {hit["chunkId"] for hit in results}
        assert min(expected[chunk_id] for chunk_id in left_out) >= max(scores) - 1e-6, metric


# ---- minilm -------------------------------------------------------------------------------------------


def test_search_before_any_embedding_finds_nothing(settings: Settings) -> None:
    client, compat_settings = compat_app(settings)
    with client, serve(compat_settings, client) as http:
        response = http.post("/search/pgvector", json={"query": "anything"})
        assert response.status_code == 200
        assert response.json() == {"results": []}


def test_embed_answers_the_chunk_id_dimensions_and_model(minilm: Compat) -> None:
    for chunk_id, text in CHUNKS.items():
        assert minilm.embed(chunk_id, text) == {
            "chunkId": chunk_id,
            "dimensions": 384,
            "model": "sentence-transformers/all-MiniLM-L6-v2",
        }
    described = minilm.http.get(f"/v1/namespaces/default/collections/{minilm.collection}").json()
    assert described["count"] == len(CHUNKS)
    assert described["embedder"] == "minilm"


def test_embedding_a_chunk_again_replaces_it(minilm: Compat) -> None:
    minilm.embed("replaced", "an old text about trains")
    minilm.embed("replaced", "a new text about boats")
    path = collection_path("default", minilm.collection, "records", "replaced")
    assert minilm.http.get(path).json()["text"] == "a new text about boats"
    assert minilm.search(query="boats on the water", limit=1)[0]["chunkId"] == "replaced"
    assert minilm.http.delete(path).status_code == 204


def test_search_pgvector_finds_the_obvious_chunk(minilm: Compat) -> None:
    for chunk_id, text in CHUNKS.items():
        minilm.embed(chunk_id, text)
    results = minilm.search(query="a kitten napping in the sun", limit=2)
    assert results[0]["chunkId"] == "cat"
    assert len(results) == 2
    assert minilm.search(query="similarity search in a database", limit=1)[0]["chunkId"] == "pg"


def test_search_pgvector_scores_are_pgvector_distances(minilm: Compat) -> None:
    for chunk_id, text in CHUNKS.items():
        minilm.embed(chunk_id, text)
    query = "storms and weather"
    query_vector = minilm.client.embedder("minilm").embed_texts([query])[0].astype(np.float64)
    check_distances(minilm, query, query_vector, list(CHUNKS))


def test_the_default_distance_is_cosine(minilm: Compat) -> None:
    for chunk_id, text in CHUNKS.items():
        minilm.embed(chunk_id, text)
    default = minilm.search(query="bread", limit=3)
    assert default == minilm.search(query="bread", limit=3, distance="cosine")
    assert default[0]["chunkId"] == "bread"
    assert all(0 <= hit["score"] <= 2 for hit in default)


def test_the_limit_defaults_to_five(minilm: Compat) -> None:
    for index in range(7):
        minilm.embed(f"extra{index}", f"extra chunk number {index}")
    assert len(minilm.search(query="extra chunk")) == 5
    for index in range(7):
        minilm.http.delete(collection_path("default", minilm.collection, "records", f"extra{index}"))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/embed", {"chunkId": "a"}),
        ("/embed", {"text": "a"}),
        ("/embed", {"chunkId": "", "text": "a"}),
        ("/embed", {"chunkId": "a", "text": ""}),
        ("/embed", {"chunkId": 1, "text": "a"}),
        ("/search/pgvector", {}),
        ("/search/pgvector", {"query": ""}),
        ("/search/pgvector", {"query": "a", "limit": 0}),
        ("/search/pgvector", {"query": "a", "limit": "many"}),
        ("/search/pgvector", {"query": "a", "distance": "hamming"}),
    ],
)
def test_bad_compat_requests_are_422(minilm: Compat, path: str, body: dict[str, Any]) -> None:
    assert_error(minilm.http.post(path, json=body), 422, "validation_error")


# ---- openai (the stub) ----------------------------------------------------------------------------------


def test_openai_embed_answers_1536_dimensions(openai: Compat, stub: OpenAIStub) -> None:
    assert openai.search(query="nothing stored yet") == []
    for chunk_id, text in CHUNKS.items():
        assert openai.embed(chunk_id, text) == {
            "chunkId": chunk_id,
            "dimensions": 1536,
            "model": "text-embedding-3-small",
        }
    assert openai.stored_vector("pg").tolist() == pytest.approx(
        stub.expected(CHUNKS["pg"]).tolist(), abs=1e-6
    )
    sent = [request.body for request in stub.requests if request.path == "/v1/embeddings"]
    assert any(
        body["input"] == [CHUNKS["bread"]] and body["model"] == "text-embedding-3-small" for body in sent
    )
    assert stub.requests[-1].headers["authorization"] == f"Bearer {DEFAULT_KEY}"


def test_openai_search_pgvector_scores_are_pgvector_distances(openai: Compat, stub: OpenAIStub) -> None:
    for chunk_id, text in CHUNKS.items():
        openai.embed(chunk_id, text)
    query = "postgres vector search"
    results = openai.search(query=query, limit=2)
    assert results[0]["chunkId"] == "pg"
    assert stub.requests[-1].body["input"] == [query]
    query_vector = stub.expected(query).astype(np.float64)
    check_distances(openai, query, query_vector, list(CHUNKS))


def test_an_embedding_service_failure_is_a_json_error(openai: Compat, stub: OpenAIStub) -> None:
    stub.fail_next(1, 400, message="This model's maximum context length is 8192 tokens")
    error = assert_error(
        openai.http.post("/embed", json={"chunkId": "failed", "text": "some text"}), 502, "embedder_error"
    )
    assert "maximum context length" in error["message"]
    stub.fail_next(1, 503)
    assert_error(
        openai.http.post("/embed", json={"chunkId": "failed", "text": "some text"}),
        503,
        "embedder_unavailable",
    )
    stub.fail_next(1, 500)
    assert_error(openai.http.post("/search/pgvector", json={"query": "text"}), 503, "embedder_unavailable")
    path = collection_path("default", openai.collection, "records", "failed")
    assert_error(openai.http.get(path), 404, "record_not_found")
    assert DEFAULT_KEY not in openai.http.post("/embed", json={"chunkId": "ok", "text": "fine"}).text


def test_a_missing_openai_key_is_a_clear_error(settings: Settings) -> None:
    client, compat_settings = compat_app(
        settings,
        compat_embedder="openai",
        openai_api_key=None,
        openai_base_url="https://api.openai.com/v1",
        openai_dimensions=None,
        openai_model="text-embedding-3-small",
    )
    try:
        with serve(compat_settings, client, raise_server_exceptions=False) as http:
            response = http.post("/embed", json={"chunkId": "c", "text": "t"})
            assert response.status_code in (500, 503)
            error = assert_error(response, response.status_code, "configuration_error")
    finally:
        client.drop_collection(compat_settings.compat_collection, missing_ok=True)
        client.close()
    assert "OPENAI_API_KEY" in error["message"]
