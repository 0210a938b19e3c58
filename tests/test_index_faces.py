"""Indexes, quantization and tuning through the faces: ``pgsimilar collections index|tune`` and the
REST API's ``PUT/DELETE .../index`` and ``POST .../tune``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pgsimilar import Client
from pgsimilar.config import Settings
from pgsimilar.core import indexing

from .api_helpers import assert_error, collection_path, new_name, serve, variant
from .cli_helpers import Cli
from .clustered import embedding_like
from .test_cli import as_json, ok
from .test_cli import assert_error as assert_cli_error

DIMS = 16


def _records(count: int) -> list[dict[str, Any]]:
    points = embedding_like(count, DIMS, seed=3)
    return [
        {"id": str(i), "vector": [float(x) for x in points[i]], "metadata": {"g": i % 5}}
        for i in range(count)
    ]


# ---- command line ------------------------------------------------------------------------------------


def test_cli_index_build_rebuild_tune_and_drop(cli: Cli, name: str, tmp_path: Path) -> None:
    info = as_json(
        cli("collections", "create", name, "--embedder", "none", "--dimensions", str(DIMS), "--quantization",
            "binary", "--index", "none", "--json")
    )  # fmt: skip
    assert info["quantization"] == "binary" and info["index"] == {"kind": "none"}
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(record) + "\n" for record in _records(300)), encoding="utf-8")
    ok(cli("add", name, str(records)))

    built = as_json(cli("collections", "index", name, "--m", "8", "--ef-construction", "32", "--json"))
    assert built["built"] is True and built["index"] == {"kind": "hnsw", "m": 8, "ef_construction": 32}
    assert built["size_bytes"] > 0 and built["seconds"] >= 0
    for_people = ok(cli("collections", "index", name, "--rebuild")).stdout
    assert f"built the hnsw index of default/{name}" in for_people

    tuned = as_json(cli("collections", "tune", name, "--target-recall", "0.9", "--sample", "30", "--json"))
    assert tuned["parameter"] == "rerank" and tuned["queries"] == 30 and tuned["curve"]
    shown = as_json(cli("collections", "show", name, "--json"))
    assert shown["search_defaults"] == {"rerank": tuned["value"]} and shown["quantization"] == "binary"
    table = ok(cli("collections", "tune", name, "--target-recall", "0.9", "--sample", "30")).stdout
    assert "rerank" in table and "stored as the default" in table

    ok(cli("collections", "index", name, "--drop"))
    assert as_json(cli("collections", "show", name, "--json"))["index"] == {"kind": "none"}
    hits = as_json(cli("search", name, "--similar-to", "3", "-k", "4", "--json"))
    assert len(hits) == 4


def test_cli_index_refuses_contradictory_options(cli: Cli, name: str) -> None:
    ok(cli("collections", "create", name, "--embedder", "none", "--dimensions", "3"))
    assert_cli_error(cli("collections", "index", name, "--drop", "--rebuild"), 2, "--drop")
    assert_cli_error(cli("collections", "index", name, "--rebuild", "--m", "8"), 2, "--rebuild")
    assert_cli_error(cli("collections", "index", name, "--kind", "ivfflat", "--m", "8"), 2, "HNSW")
    assert_cli_error(cli("collections", "tune", name, "--target-recall", "2"), 2, "target_recall")
    assert_cli_error(cli("collections", "index", "no-such-collection"), 3, "does not exist")


# ---- REST API ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(settings: Settings, client: Client) -> Iterator[TestClient]:
    with serve(variant(settings, auth="auto"), client) as http:
        yield http


@pytest.fixture
def ns(api: TestClient) -> Iterator[str]:
    name = new_name()
    assert api.post("/v1/namespaces", json={"name": name}).status_code == 201
    yield name
    api.delete(f"/v1/namespaces/{name}", params={"cascade": "true"})


def test_api_index_put_delete_and_tune(api: TestClient, ns: str) -> None:
    name = new_name()
    created = api.post(
        f"/v1/namespaces/{ns}/collections",
        json={
            "name": name,
            "embedder": "none",
            "dimensions": DIMS,
            "quantization": "binary",
            "index": "none",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["quantization"] == "binary" and created.json()["index"]["built"] is False
    assert api.put(collection_path(ns, name, "records"), json={"records": _records(300)}).status_code == 200

    built = api.put(collection_path(ns, name, "index"), json={"kind": "hnsw", "m": 8, "ef_construction": 32})
    assert built.status_code == 200, built.text
    body = built.json()
    assert body["index"]["kind"] == "hnsw" and body["index"]["built"] is True and body["index"]["m"] == 8
    assert body["size_bytes"] > 0

    tuned = api.post(collection_path(ns, name, "tune"), json={"target_recall": 0.9, "sample": 30})
    assert tuned.status_code == 200, tuned.text
    result = tuned.json()
    assert result["parameter"] == "rerank" and result["queries"] == 30 and result["curve"]
    described = api.get(collection_path(ns, name)).json()
    assert described["index"]["search_defaults"] == {"rerank": result["value"]}

    search = api.post(
        collection_path(ns, name, "search"),
        json={"vector": _records(1)[0]["vector"], "k": 3, "explain": True},
    )
    assert search.status_code == 200 and search.json()["explain"]["rerank"] == result["value"]
    search = api.post(
        collection_path(ns, name, "search"), json={"vector": _records(1)[0]["vector"], "rerank": 2}
    )
    assert search.status_code == 200 and search.json()["count"] == 10

    assert api.delete(collection_path(ns, name, "index")).status_code == 204
    described = api.get(collection_path(ns, name)).json()
    assert described["index"]["kind"] == "none" and described["index"]["built"] is False


def test_api_index_errors(api: TestClient, ns: str, client: Client) -> None:
    name = new_name()
    assert api.post(
        f"/v1/namespaces/{ns}/collections",
        json={"name": name, "embedder": "none", "dimensions": 3, "quantization": "binary"},
    ).status_code == 201  # fmt: skip
    assert_error(api.put(collection_path(ns, name, "index"), json={"kind": "ivfflat"}), 400, "invalid_input")
    assert_error(api.put(collection_path(ns, name, "index"), json={"m": 1}), 422)
    assert_error(api.post(collection_path(ns, name, "tune"), json={"target_recall": 0}), 422)
    assert_error(api.post(collection_path(ns, name, "tune"), json={}), 400, "invalid_input")  # no records
    assert_error(api.put(collection_path(ns, "no-such", "index"), json={}), 404)
    collection = client.get_collection(name, namespace=ns)
    with client.database.autocommit_connection() as conn:
        assert indexing.try_lock(conn, collection.info)
        assert_error(api.put(collection_path(ns, name, "index"), json={}), 409, "index_build_running")
