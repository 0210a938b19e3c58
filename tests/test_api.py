"""The REST API over HTTP (auth off, as on loopback): namespaces, collections, records, search, errors,
``/health`` and ``/metrics``, against the session's real database and the real minilm model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pgsimilar import Client
from pgsimilar.config import Settings

from .api_helpers import assert_error, collection_path, new_name, serve, variant

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
JSON_TYPE = {"content-type": "application/json"}
DOCS: list[dict[str, Any]] = [
    {
        "id": "apple",
        "text": "A crisp red apple is a sweet fruit.",
        "metadata": {"kind": "food", "price": 1},
    },
    {
        "id": "banana",
        "text": "Bananas are long yellow tropical fruit.",
        "metadata": {"kind": "food", "price": 2},
    },
    {"id": "hammer", "text": "A hammer drives nails into wood.", "metadata": {"kind": "tool", "price": 15}},
    {"id": "saw", "text": "A hand saw cuts planks of timber.", "metadata": {"kind": "tool", "price": 20}},
    {
        "id": "guitar",
        "text": "An acoustic guitar has six strings for music.",
        "metadata": {"kind": "music", "price": 300},
    },
    {
        "id": "espresso",
        "text": "An espresso machine brews strong coffee.",
        "metadata": {"kind": "kitchen", "price": 120},
    },
]
VECTORS: list[dict[str, Any]] = [
    {"id": "x", "vector": [1.0, 0.0, 0.0], "metadata": {"axis": "x", "n": 1}},
    {"id": "y", "vector": [0.0, 1.0, 0.0], "metadata": {"axis": "y", "n": 2}},
    {"id": "z", "vector": [0.0, 0.0, 1.0], "metadata": {"axis": "z", "n": 3}},
    {"id": "xy", "vector": [0.6, 0.8, 0.0], "metadata": {"axis": "xy", "n": 4}},
]


@pytest.fixture(scope="module")
def api(settings: Settings, client: Client) -> Iterator[TestClient]:
    with serve(variant(settings, auth="auto"), client) as http:
        yield http


@pytest.fixture(scope="module")
def ns(api: TestClient) -> Iterator[str]:
    """A namespace of this module's own."""
    name = new_name()
    assert api.post("/v1/namespaces", json={"name": name}).status_code == 201
    yield name
    api.delete(f"/v1/namespaces/{name}", params={"cascade": "true"})


@pytest.fixture(scope="module")
def docs(api: TestClient, ns: str) -> str:
    """A minilm collection holding DOCS."""
    name = new_name()
    response = api.post(f"/v1/namespaces/{ns}/collections", json={"name": name})
    assert response.status_code == 201, response.text
    response = api.put(collection_path(ns, name, "records"), json={"records": DOCS})
    assert response.status_code == 200, response.text
    return name


@pytest.fixture
def vectors(api: TestClient, ns: str) -> Iterator[str]:
    """A fresh 3-d collection of your own vectors (cosine, HNSW) holding VECTORS."""
    name = new_name()
    body = {"name": name, "embedder": "none", "dimensions": 3}
    assert api.post(f"/v1/namespaces/{ns}/collections", json=body).status_code == 201
    response = api.put(collection_path(ns, name, "records"), json={"records": VECTORS})
    assert response.status_code == 200, response.text
    yield name
    api.delete(collection_path(ns, name))


def search(api: TestClient, ns: str, name: str, **body: Any) -> dict[str, Any]:
    response = api.post(collection_path(ns, name, "search"), json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["count"] == len(result["data"])
    return result


def ids(result: dict[str, Any]) -> list[str]:
    return [hit["id"] for hit in result["data"]]


# ---- operations ---------------------------------------------------------------------------------------


def test_health_reports_the_database_and_loaded_models(api: TestClient, docs: str) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["models"].get("minilm") is True  # DOCS were embedded by this process


def test_root_serves_the_web_ui_and_openapi_is_served(api: TestClient) -> None:
    response = api.get("/", follow_redirects=False)  # the web UI (tests/web); the docs stay at /docs
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/namespaces", "/embed", "/search/pgvector", "/health"} <= set(paths)


def test_metrics_count_requests_latency_searches_and_records(api: TestClient, ns: str, docs: str) -> None:
    search(api, ns, docs, text="fruit", k=2)
    search(api, ns, docs, text="tools", k=2)
    api.get(f"/v1/namespaces/{ns}/collections/{docs}")
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    search_route = "/v1/namespaces/{ns}/collections/{name}/search"
    assert value("pgsimilar_http_requests_total", method="POST", route=search_route, status="200") >= 2
    get_route = "/v1/namespaces/{ns}/collections/{name}"
    assert value("pgsimilar_http_requests_total", method="GET", route=get_route, status="200") >= 1
    assert value("pgsimilar_http_request_duration_seconds_count", method="POST", route=search_route) >= 2
    assert value("pgsimilar_search_duration_seconds_count") >= 2
    assert value("pgsimilar_search_duration_seconds_sum") > 0
    assert value("pgsimilar_collection_records", namespace=ns, collection=docs) == len(DOCS)
    # Ids never become labels: only route templates do.
    assert not any("apple" in str(labels) for _, labels in samples)


def test_metrics_follow_the_record_count(api: TestClient, ns: str, vectors: str) -> None:
    def records() -> float:
        families = text_string_to_metric_families(api.get("/metrics").text)
        return next(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "pgsimilar_collection_records" and sample.labels["collection"] == vectors
        )

    assert records() == len(VECTORS)
    assert api.delete(collection_path(ns, vectors, "records", "x")).status_code == 204
    assert records() == len(VECTORS) - 1


# ---- namespaces ---------------------------------------------------------------------------------------


def test_namespaces_are_created_listed_and_dropped(api: TestClient) -> None:
    name = new_name()
    response = api.post("/v1/namespaces", json={"name": name})
    assert response.status_code == 201
    assert response.json() == {"name": name}
    listed = api.get("/v1/namespaces").json()
    assert listed["count"] == len(listed["data"])
    assert {"name": name} in listed["data"]
    assert {"name": "default"} in listed["data"]
    assert_error(api.post("/v1/namespaces", json={"name": name}), 409, "namespace_exists")

    collection = {"name": "inside", "embedder": "none", "dimensions": 2}
    assert api.post(f"/v1/namespaces/{name}/collections", json=collection).status_code == 201
    message = assert_error(api.delete(f"/v1/namespaces/{name}"), 400)["message"]
    assert "cascade" in message
    assert api.get(f"/v1/namespaces/{name}/collections/inside").status_code == 200

    response = api.delete(f"/v1/namespaces/{name}", params={"cascade": "true"})
    assert response.status_code == 204
    assert response.content == b""
    assert {"name": name} not in api.get("/v1/namespaces").json()["data"]
    assert_error(api.get(f"/v1/namespaces/{name}/collections/inside"), 404, "namespace_not_found")
    assert_error(api.delete(f"/v1/namespaces/{name}"), 404, "namespace_not_found")


def test_an_empty_namespace_drops_without_cascade(api: TestClient) -> None:
    name = new_name()
    assert api.post("/v1/namespaces", json={"name": name}).status_code == 201
    assert api.delete(f"/v1/namespaces/{name}").status_code == 204
    assert {"name": name} not in api.get("/v1/namespaces").json()["data"]


def test_the_default_namespace_stays(api: TestClient) -> None:
    assert_error(api.delete("/v1/namespaces/default", params={"cascade": "true"}), 400, "invalid_input")


@pytest.mark.parametrize(
    "body",
    [{}, {"name": "Has Spaces"}, {"name": ""}, {"name": "ok", "extra": 1}, {"name": 5}, []],
    ids=["missing", "bad-name", "empty", "extra-field", "not-a-string", "not-an-object"],
)
def test_a_bad_namespace_body_is_422(api: TestClient, body: Any) -> None:
    assert_error(api.post("/v1/namespaces", json=body), 422, "validation_error")


# ---- collections --------------------------------------------------------------------------------------


def test_a_collection_is_created_described_listed_and_dropped(api: TestClient, ns: str) -> None:
    name = new_name()
    body = {"name": name, "embedder": "none", "dimensions": 3, "metric": "l2", "index": "ivfflat"}
    response = api.post(f"/v1/namespaces/{ns}/collections", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["namespace"] == ns
    assert created["name"] == name
    assert created["embedder"] == "none"
    assert created["dimensions"] == 3
    assert created["metric"] == "l2"
    assert created["storage"] == "vector"
    assert created["index"]["kind"] == "ivfflat"
    assert created["index"]["built"] is False  # IVFFlat waits for rows to train its lists
    assert created["count"] == 0

    assert api.put(collection_path(ns, name, "records"), json={"records": VECTORS}).status_code == 200
    described = api.get(collection_path(ns, name)).json()
    assert described["count"] == len(VECTORS)
    assert {key: described[key] for key in ("embedder", "dimensions", "metric")} == {
        "embedder": "none",
        "dimensions": 3,
        "metric": "l2",
    }

    listed = api.get(f"/v1/namespaces/{ns}/collections").json()
    assert listed["count"] == len(listed["data"])
    mine = [item for item in listed["data"] if item["name"] == name]
    assert len(mine) == 1
    assert mine[0]["count"] == len(VECTORS)

    response = api.delete(collection_path(ns, name))
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get(collection_path(ns, name)), 404, "collection_not_found")
    assert_error(api.delete(collection_path(ns, name)), 404, "collection_not_found")
    assert name not in [item["name"] for item in api.get(f"/v1/namespaces/{ns}/collections").json()["data"]]


def test_a_collection_takes_an_index_spec(api: TestClient, ns: str) -> None:
    name = new_name()
    body = {
        "name": name,
        "embedder": "none",
        "dimensions": 4,
        "metric": "inner_product",
        "storage": "halfvec",
        "index": {"kind": "hnsw", "m": 8, "ef_construction": 40},
    }
    response = api.post(f"/v1/namespaces/{ns}/collections", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["metric"] == "inner_product"
    assert created["storage"] == "halfvec"
    assert created["index"] == {
        "kind": "hnsw",
        "m": 8,
        "ef_construction": 40,
        "lists": None,
        "built": True,
        "search_defaults": {},
    }
    assert api.get(collection_path(ns, name)).json()["index"] == created["index"]
    assert api.delete(collection_path(ns, name)).status_code == 204


def test_a_collection_without_index_searches_exactly(api: TestClient, ns: str) -> None:
    name = new_name()
    body = {"name": name, "embedder": "none", "dimensions": 3, "index": {"kind": "none"}}
    assert api.post(f"/v1/namespaces/{ns}/collections", json=body).json()["index"]["kind"] == "none"
    api.put(collection_path(ns, name, "records"), json={"records": VECTORS})
    result = search(api, ns, name, vector=[1, 0.1, 0], k=2, explain=True)
    assert ids(result) == ["x", "xy"]
    assert result["explain"]["exact"] is True
    assert api.delete(collection_path(ns, name)).status_code == 204


def test_a_minilm_collection_describes_its_model(api: TestClient, ns: str, docs: str) -> None:
    described = api.get(collection_path(ns, docs)).json()
    assert described["embedder"] == "minilm"
    assert described["model"] == MINILM
    assert described["dimensions"] == 384
    assert described["metric"] == "cosine"
    assert described["count"] == len(DOCS)
    assert described["index"]["kind"] == "hnsw"
    assert described["index"]["built"] is True


def test_a_duplicate_collection_is_409(api: TestClient, ns: str, vectors: str) -> None:
    body = {"name": vectors, "embedder": "none", "dimensions": 3}
    assert_error(api.post(f"/v1/namespaces/{ns}/collections", json=body), 409, "collection_exists")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"embedder": "no-such-model"}, 400),
        ({"embedder": "none"}, 400),  # no dimensions for your own vectors
        ({"embedder": "none", "dimensions": 3, "index": {"kind": "ivfflat", "m": 8}}, 400),
        (
            {"embedder": "none", "dimensions": 3, "index": {"kind": "hnsw", "m": 16, "ef_construction": 8}},
            400,
        ),
        ({"embedder": "minilm", "dimensions": 100}, 400),
        ({"embedder": "none", "dimensions": 3000}, 400),  # too many to index as vector
        ({"embedder": "none", "dimensions": 0}, 422),
        ({"metric": "hamming"}, 422),
        ({"index": "annoy"}, 422),
        ({"storage": "bitvec"}, 422),
        ({"index": {"kind": "hnsw", "bogus": 1}}, 422),
        ({"colour": "blue"}, 422),
    ],
)
def test_a_bad_collection_is_refused(api: TestClient, ns: str, body: dict[str, Any], status: int) -> None:
    name = new_name()
    response = api.post(f"/v1/namespaces/{ns}/collections", json={"name": name, **body})
    assert_error(response, status)
    assert_error(api.get(collection_path(ns, name)), 404, "collection_not_found")


def test_collections_of_an_unknown_namespace_are_404(api: TestClient) -> None:
    missing = new_name()
    body = {"name": "c", "embedder": "none", "dimensions": 2}
    assert_error(api.post(f"/v1/namespaces/{missing}/collections", json=body), 404, "namespace_not_found")
    assert_error(api.get(f"/v1/namespaces/{missing}/collections/c"), 404, "namespace_not_found")
    assert_error(api.delete(f"/v1/namespaces/{missing}/collections/c"), 404, "namespace_not_found")


# ---- records ------------------------------------------------------------------------------------------


def test_upsert_counts_inserted_updated_and_unchanged(api: TestClient, ns: str, vectors: str) -> None:
    path = collection_path(ns, vectors, "records")
    assert api.put(path, json={"records": VECTORS}).json() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": len(VECTORS),
        "embedded": 0,
    }
    changed = [{**VECTORS[0], "metadata": {"axis": "x", "n": 10}}, {"id": "w", "vector": [1, 1, 1]}]
    assert api.put(path, json={"records": changed}).json() == {
        "inserted": 1,
        "updated": 1,
        "unchanged": 0,
        "embedded": 0,
    }
    assert api.get(f"{path}/x").json()["metadata"] == {"axis": "x", "n": 10}
    assert api.get(collection_path(ns, vectors)).json()["count"] == len(VECTORS) + 1


def test_upsert_embeds_texts_once(api: TestClient, ns: str) -> None:
    name = new_name()
    assert api.post(f"/v1/namespaces/{ns}/collections", json={"name": name}).status_code == 201
    path = collection_path(ns, name, "records")
    records = [{"id": "a", "text": "first text"}, {"id": "b", "text": "second text"}]
    assert api.put(path, json={"records": records}).json() == {
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "embedded": 2,
    }
    records[1]["text"] = "second text, changed"
    assert api.put(path, json={"records": records}).json() == {
        "inserted": 0,
        "updated": 1,
        "unchanged": 1,
        "embedded": 1,
    }
    assert api.delete(collection_path(ns, name)).status_code == 204


def test_a_record_is_read_with_or_without_its_vector(api: TestClient, ns: str, docs: str) -> None:
    path = collection_path(ns, docs, "records", "banana")
    record = api.get(path).json()
    assert record["id"] == "banana"
    assert record["text"] == DOCS[1]["text"]
    assert record["metadata"] == DOCS[1]["metadata"]
    assert "vector" not in record
    assert record["created_at"] and record["updated_at"]

    with_vector = api.get(path, params={"include_vector": "true"}).json()
    vector = np.asarray(with_vector["vector"])
    assert vector.shape == (384,)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-3)  # minilm normalises


def test_stored_vectors_come_back_as_sent(api: TestClient, ns: str, vectors: str) -> None:
    record = api.get(collection_path(ns, vectors, "records", "xy"), params={"include_vector": True}).json()
    assert record["vector"] == pytest.approx([0.6, 0.8, 0.0], abs=1e-6)
    assert record["metadata"] == {"axis": "xy", "n": 4}


def test_an_unknown_record_is_404(api: TestClient, ns: str, vectors: str) -> None:
    assert_error(api.get(collection_path(ns, vectors, "records", "nope")), 404, "record_not_found")
    assert_error(api.delete(collection_path(ns, vectors, "records", "nope")), 404, "record_not_found")
    missing = new_name()
    assert_error(api.get(collection_path(ns, missing, "records", "x")), 404, "collection_not_found")
    assert_error(
        api.put(collection_path(ns, missing, "records"), json={"records": VECTORS}),
        404,
        "collection_not_found",
    )


def test_a_record_is_deleted_by_id(api: TestClient, ns: str, vectors: str) -> None:
    path = collection_path(ns, vectors, "records", "y")
    response = api.delete(path)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get(path), 404, "record_not_found")
    assert_error(api.delete(path), 404, "record_not_found")
    assert api.get(collection_path(ns, vectors)).json()["count"] == len(VECTORS) - 1


def test_records_are_deleted_by_ids_and_by_filter(api: TestClient, ns: str, vectors: str) -> None:
    path = collection_path(ns, vectors, "records", "delete")
    assert api.post(path, json={"ids": ["x", "nope"]}).json() == {"deleted": 1}
    assert api.post(path, json={"filter": {"n": {"$gte": 3}}}).json() == {"deleted": 2}
    assert ids(search(api, ns, vectors, vector=[1, 1, 1])) == ["y"]
    assert_error(api.post(path, json={"filter": {"n": {"$regex": "x"}}}), 400, "invalid_filter")
    assert api.post(path, json={"filter": {}}).json() == {"deleted": 1}
    assert api.get(collection_path(ns, vectors)).json()["count"] == 0


@pytest.mark.parametrize(
    ("records", "status", "code"),
    [
        ([{"id": "a", "vector": [1.0, 2.0]}], 400, "dimension_mismatch"),
        ([{"id": "a", "vector": [0.0, 0.0, 0.0]}], 400, "invalid_vector"),  # no direction for cosine
        ([{"id": "a", "vector": [1e39, 0.0, 0.0]}], 400, "invalid_vector"),  # beyond float32
        ([{"id": "a", "text": "words need a model"}], 400, None),
        ([{"id": "a"}], 400, None),  # neither text nor vector
        ([{"id": "a", "vector": [1, 0, 0], "image": "aGVsbG8="}], 400, None),  # not an image, no image model
        ([{"id": "", "vector": [1, 0, 0]}], 422, "validation_error"),
        ([{"id": "a", "vector": [1, 0, 0], "colour": "red"}], 422, "validation_error"),
        ([{"id": "a", "vector": ["one", 0, 0]}], 422, "validation_error"),
        ([{"id": "a", "vector": [1, 0, 0], "metadata": [1, 2]}], 422, "validation_error"),
        (
            [{"id": "a", "vector": [1, 0, 0], "metadata": {"x": "\ud800"}}],
            400,
            "invalid_record",
        ),  # lone surrogate
        ([{"id": "a\udc80", "vector": [1, 0, 0]}], 422, "validation_error"),  # the schema refuses it
        ([], 422, "validation_error"),
    ],
)
def test_bad_records_are_refused_all_or_nothing(
    api: TestClient, ns: str, vectors: str, records: list[dict[str, Any]], status: int, code: str | None
) -> None:
    good = {"id": "fresh", "vector": [0.5, 0.5, 0.5]}
    body = {"records": [good, *records]} if records else {"records": []}
    # JSON written with escapes, as clients write it: httpx's own encoding cannot write a lone surrogate.
    response = api.put(collection_path(ns, vectors, "records"), content=json.dumps(body), headers=JSON_TYPE)
    assert_error(response, status, code)
    assert_error(api.get(collection_path(ns, vectors, "records", "fresh")), 404, "record_not_found")


def test_non_finite_numbers_are_schema_violations(api: TestClient, ns: str, vectors: str) -> None:
    # Python's JSON reader accepts NaN and Infinity; the schema must not.
    body = '{"records": [{"id": "n", "vector": [NaN, 0, 0]}]}'
    response = api.put(collection_path(ns, vectors, "records"), content=body, headers=JSON_TYPE)
    assert_error(response, 422, "validation_error")
    body = '{"vector": [Infinity, 0, 0]}'
    response = api.post(collection_path(ns, vectors, "search"), content=body, headers=JSON_TYPE)
    assert_error(response, 422, "validation_error")


def test_a_body_that_is_not_json_is_422(api: TestClient, ns: str, vectors: str) -> None:
    response = api.put(
        collection_path(ns, vectors, "records"),
        content=b'{"records": [',
        headers=JSON_TYPE,
    )
    assert_error(response, 422, "validation_error")


# ---- search -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a yellow tropical fruit", "banana"),
        ("which instrument has strings?", "guitar"),
        ("making coffee in the morning", "espresso"),
        ("a tool to cut wooden boards", "saw"),
    ],
)
def test_search_by_text_finds_the_obvious_record(
    api: TestClient, ns: str, docs: str, query: str, expected: str
) -> None:
    result = search(api, ns, docs, text=query, k=3)
    assert ids(result)[0] == expected
    assert result["count"] == 3
    scores = [hit["score"] for hit in result["data"]]
    assert scores == sorted(scores, reverse=True)
    for hit in result["data"]:
        assert hit["score"] == pytest.approx(1 - hit["distance"], abs=1e-9)  # cosine


def test_exact_and_approximate_search_agree_on_a_small_collection(
    api: TestClient, ns: str, docs: str
) -> None:
    approximate = search(api, ns, docs, text="fruit", k=4, ef_search=40)
    exact = search(api, ns, docs, text="fruit", k=4, exact=True)
    assert ids(approximate) == ids(exact)
    assert ids(exact)[:2] in (["apple", "banana"], ["banana", "apple"])


def test_filters_narrow_the_results(api: TestClient, ns: str, docs: str) -> None:
    tools = search(api, ns, docs, text="fruit", filter={"kind": "tool"})
    assert sorted(ids(tools)) == ["hammer", "saw"]
    cheap = search(api, ns, docs, text="music", filter={"price": {"$lt": 100}}, k=10)
    assert sorted(ids(cheap)) == ["apple", "banana", "hammer", "saw"]
    either = search(api, ns, docs, text="music", filter={"kind": {"$in": ["music", "kitchen"]}})
    assert ids(either) == ["guitar", "espresso"]
    nothing = search(api, ns, docs, text="music", filter={"kind": "furniture"})
    assert nothing == {"data": [], "count": 0}


def test_search_by_id_leaves_the_record_out(api: TestClient, ns: str, docs: str) -> None:
    result = search(api, ns, docs, id="apple", k=3)
    assert "apple" not in ids(result)
    assert ids(result)[0] == "banana"
    assert len(ids(search(api, ns, docs, id="apple", k=100))) == len(DOCS) - 1
    assert_error(api.post(collection_path(ns, docs, "search"), json={"id": "nope"}), 404, "record_not_found")


def test_search_by_vector_finds_the_record_it_came_from(api: TestClient, ns: str, docs: str) -> None:
    vector = api.get(collection_path(ns, docs, "records", "guitar"), params={"include_vector": True}).json()[
        "vector"
    ]
    best = search(api, ns, docs, vector=vector, k=1)["data"][0]
    assert best["id"] == "guitar"
    assert best["distance"] == pytest.approx(0.0, abs=1e-5)
    assert best["score"] == pytest.approx(1.0, abs=1e-5)


def test_include_decides_the_fields_of_each_hit(api: TestClient, ns: str, docs: str) -> None:
    default = search(api, ns, docs, text="fruit", k=2)["data"][0]
    assert set(default) == {"id", "score", "distance", "metadata", "content"}
    assert default["content"] == next(doc["text"] for doc in DOCS if doc["id"] == default["id"])

    bare = search(api, ns, docs, text="fruit", k=2, include=[])["data"]
    assert all(set(hit) == {"id", "score", "distance"} for hit in bare)

    metadata = search(api, ns, docs, text="fruit", k=2, include=["metadata"])["data"]
    assert all(set(hit) == {"id", "score", "distance", "metadata"} for hit in metadata)

    with_vectors = search(api, ns, docs, text="fruit", k=2, include=["vector", "content"])["data"]
    assert all(set(hit) == {"id", "score", "distance", "content", "vector"} for hit in with_vectors)
    stored = api.get(
        collection_path(ns, docs, "records", with_vectors[0]["id"]), params={"include_vector": True}
    ).json()["vector"]
    assert with_vectors[0]["vector"] == pytest.approx(stored)


def test_k_and_min_score_bound_the_hits(api: TestClient, ns: str, docs: str) -> None:
    assert search(api, ns, docs, text="fruit", k=2)["count"] == 2
    everything = search(api, ns, docs, text="fruit", k=1000)
    assert everything["count"] == len(DOCS)
    threshold = everything["data"][2]["score"]
    bounded = search(api, ns, docs, text="fruit", k=10, min_score=threshold)
    assert ids(bounded) == ids(everything)[:3]
    assert all(hit["score"] >= threshold for hit in bounded["data"])


def test_explain_shows_how_the_search_ran(api: TestClient, ns: str, docs: str) -> None:
    result = search(api, ns, docs, text="fruit", k=2, ef_search=64, explain=True)
    explain = result["explain"]
    assert set(explain) == {"sql", "settings", "embed_ms", "search_ms", "exact", "fell_back_to_exact", "plan"}
    assert explain["exact"] is False
    assert explain["settings"].get("hnsw.ef_search") == "64"
    assert "<=>" in explain["sql"]
    assert explain["plan"]
    assert explain["embed_ms"] >= 0 and explain["search_ms"] >= 0
    assert "explain" not in search(api, ns, docs, text="fruit", k=2)


def test_probes_apply_to_an_ivfflat_collection(api: TestClient, ns: str) -> None:
    name = new_name()
    body = {"name": name, "embedder": "none", "dimensions": 3, "index": {"kind": "ivfflat", "lists": 2}}
    assert api.post(f"/v1/namespaces/{ns}/collections", json=body).status_code == 201
    api.put(collection_path(ns, name, "records"), json={"records": VECTORS})
    result = search(api, ns, name, vector=[0, 1, 0.1], k=2, probes=2, explain=True)
    assert ids(result) == ["y", "xy"]
    assert result["explain"]["settings"].get("ivfflat.probes") == "2"
    assert api.delete(collection_path(ns, name)).status_code == 204


def test_distances_are_pgvectors(api: TestClient, ns: str, vectors: str) -> None:
    query = np.array([1.0, 2.0, 0.5])
    result = search(api, ns, vectors, vector=query.tolist(), k=4, exact=True)
    for hit in result["data"]:
        stored = np.array(next(item["vector"] for item in VECTORS if item["id"] == hit["id"]))
        cosine = 1 - query @ stored / (np.linalg.norm(query) * np.linalg.norm(stored))
        assert hit["distance"] == pytest.approx(cosine, abs=1e-5)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid_input"),  # nothing to search by
        ({"text": "a", "vector": [1, 0, 0]}, 400, "invalid_input"),
        ({"text": "words"}, 400, "unsupported_modality"),  # the collection has no model
        ({"vector": [1, 0]}, 400, "dimension_mismatch"),
        ({"vector": [0, 0, 0]}, 400, "invalid_vector"),
        ({"vector": [1e39, 0, 0]}, 400, "invalid_vector"),
        ({"image": "aGVsbG8="}, 400, None),  # not an image, and no image model
        ({"vector": [1, 0, 0], "filter": {"n": {"$regex": "x"}}}, 400, "invalid_filter"),
        ({"vector": [1, 0, 0], "filter": {"$or": []}}, 400, "invalid_filter"),
        ({"vector": [1, 0, 0], "filter": {"": 1}}, 400, "invalid_filter"),
        ({"vector": [1, 0, 0], "k": 0}, 422, "validation_error"),
        ({"vector": [1, 0, 0], "k": 1001}, 422, "validation_error"),
        ({"vector": [1, 0, 0], "k": "ten"}, 422, "validation_error"),
        ({"vector": [1, 0, 0], "ef_search": 0}, 422, "validation_error"),
        ({"vector": [1, 0, 0], "include": ["everything"]}, 422, "validation_error"),
        ({"vector": [1, 0, 0], "top_k": 3}, 422, "validation_error"),
        ({"vector": []}, 422, "validation_error"),
        ({"text": ""}, 422, "validation_error"),
        ({"vector": [1, 0, 0], "filter": [1]}, 422, "validation_error"),
    ],
)
def test_a_bad_search_is_refused(
    api: TestClient, ns: str, vectors: str, body: dict[str, Any], status: int, code: str | None
) -> None:
    assert_error(api.post(collection_path(ns, vectors, "search"), json=body), status, code)


def test_search_in_unknown_places_is_404(api: TestClient, ns: str) -> None:
    body = {"vector": [1, 0, 0]}
    missing = new_name()
    assert_error(api.post(collection_path(ns, missing, "search"), json=body), 404, "collection_not_found")
    assert_error(api.post(collection_path(missing, "c", "search"), json=body), 404, "namespace_not_found")


# ---- limits and generic errors ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_api(settings: Settings, client: Client) -> Iterator[TestClient]:
    """An app that takes bodies of at most 2048 bytes."""
    with serve(variant(settings, auth="auto", max_request_bytes=2048), client) as http:
        yield http


def test_a_body_over_the_size_limit_is_413(small_api: TestClient, ns: str, vectors: str) -> None:
    path = collection_path(ns, vectors, "records")
    big = {"records": [{"id": "big", "vector": [1, 0, 0], "metadata": {"note": "x" * 3000}}]}
    assert_error(small_api.put(path, json=big), 413, "request_too_large")
    assert_error(small_api.get(collection_path(ns, vectors, "records", "big")), 404, "record_not_found")
    small = {"records": [{"id": "small", "vector": [1, 0, 0], "metadata": {"note": "x" * 100}}]}
    assert small_api.put(path, json=small).status_code == 200


def test_the_size_limit_holds_without_a_content_length(small_api: TestClient, ns: str, vectors: str) -> None:
    payload = json.dumps({"records": [{"id": "big", "vector": [1, 0, 0], "metadata": {"note": "x" * 5000}}]})

    def chunks() -> Iterator[bytes]:  # sent chunked: the size is only known as it arrives
        data = payload.encode()
        for start in range(0, len(data), 500):
            yield data[start : start + 500]

    response = small_api.put(
        collection_path(ns, vectors, "records"),
        content=chunks(),
        headers=JSON_TYPE,
    )
    assert_error(response, 413, "request_too_large")
    assert_error(small_api.get(collection_path(ns, vectors, "records", "big")), 404, "record_not_found")


def test_more_records_than_allowed_per_request_is_413(settings: Settings, ns: str, vectors: str) -> None:
    with (
        Client(settings=variant(settings, max_records_per_request=3)) as limited,
        serve(variant(settings, auth="auto", max_records_per_request=3), limited) as http,
    ):
        path = collection_path(ns, vectors, "records")
        records = [{"id": f"r{i}", "vector": [1, i, 0]} for i in range(4)]
        message = assert_error(http.put(path, json={"records": records}), 413, "too_many_records")["message"]
        assert "3" in message
        assert http.put(path, json={"records": records[:3]}).json()["inserted"] == 3


def test_the_apps_own_settings_limit_records_per_request(
    settings: Settings, client: Client, ns: str, vectors: str
) -> None:
    with serve(variant(settings, auth="auto", max_records_per_request=3), client) as http:
        records = [{"id": f"r{i}", "vector": [1, i, 0]} for i in range(4)]
        response = http.put(collection_path(ns, vectors, "records"), json={"records": records})
        assert_error(response, 413, "too_many_records")


@pytest.fixture(scope="module")
def lenient_api(settings: Settings, client: Client) -> Iterator[TestClient]:
    """Answers a 500 as the server would, instead of raising the error in the test."""
    with serve(variant(settings, auth="auto"), client, raise_server_exceptions=False) as http:
        yield http


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "{collection}/records/a%00", None),
        ("DELETE", "{collection}/records/a%00", None),
        ("POST", "{collection}/search", {"id": "a\x00"}),
        ("POST", "{collection}/search", {"id": "a\udc80"}),  # a lone surrogate, escaped in the JSON
        ("GET", "{collection}%00", None),
        ("GET", "/v1/namespaces/{ns}%00/collections", None),
    ],
    ids=[
        "get-record",
        "delete-record",
        "search-by-id",
        "search-by-surrogate-id",
        "collection-name",
        "namespace",
    ],
)
def test_an_id_holding_nul_is_a_client_error(
    lenient_api: TestClient, ns: str, vectors: str, method: str, path: str, body: Any
) -> None:
    url = path.format(collection=collection_path(ns, vectors), ns=ns)
    content = None if body is None else json.dumps(body)  # escaped: httpx cannot write a lone surrogate
    response = lenient_api.request(method, url, content=content, headers=JSON_TYPE)
    assert 400 <= response.status_code < 500, response.text
    assert_error(response, response.status_code)


def test_deleting_an_id_holding_nul_deletes_nothing(lenient_api: TestClient, ns: str, vectors: str) -> None:
    response = lenient_api.post(collection_path(ns, vectors, "records", "delete"), json={"ids": ["a\x00"]})
    assert response.status_code == 200 and response.json() == {"deleted": 0}


def test_unknown_routes_and_methods_answer_json(api: TestClient) -> None:
    assert_error(api.get("/v2/nothing"), 404, "not_found")
    assert_error(api.put("/v1/namespaces"), 405, "method_not_allowed")


def test_a_validation_error_names_the_field(api: TestClient, ns: str, vectors: str) -> None:
    error = assert_error(
        api.post(collection_path(ns, vectors, "search"), json={"vector": [1, 0, 0], "k": 0}), 422
    )
    assert "k" in error["message"]
    assert error["details"][0]["location"] == ["body", "k"]
