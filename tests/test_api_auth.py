"""API keys over HTTP: 401 without a valid key, 403 for writes a key may not do, and 404 (never 403) for
every namespace a key may not see, worded exactly as for one that does not exist. Keys come from the
core key store and from ``pgsimilar keys``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pgsimilar import Client
from pgsimilar.cli import app as cli_app
from pgsimilar.config import Settings
from pgsimilar.core.keys import Scope

from .api_helpers import assert_error, collection_path, new_name, serve, variant

RECORDS = [
    {"id": "a", "vector": [1.0, 0.0, 0.0], "metadata": {"n": 1}},
    {"id": "b", "vector": [0.0, 1.0, 0.0], "metadata": {"n": 2}},
]
COLLECTION = "docs"


@dataclass(frozen=True)
class Keys:
    admin: str
    read_a: str
    write_a: str
    read_default: str


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_namespace(client: Client) -> str:
    """A namespace holding the collection COLLECTION with RECORDS."""
    name = new_name()
    client.create_namespace(name)
    client.create_collection(COLLECTION, namespace=name, embedder="none", dimensions=3).upsert(RECORDS)
    return name


@pytest.fixture(scope="module")
def namespaces(client: Client) -> Iterator[tuple[str, str]]:
    """Namespaces A and B, each with a collection."""
    made = (make_namespace(client), make_namespace(client))
    yield made
    for name in made:
        client.drop_namespace(name, cascade=True)


@pytest.fixture(scope="module")
def keys(client: Client, namespaces: tuple[str, str]) -> Keys:
    a, _ = namespaces
    return Keys(
        admin=client.keys.create(Scope.ADMIN, name="test admin")[1],
        read_a=client.keys.create(Scope.READ, namespace=a)[1],
        write_a=client.keys.create(Scope.READ_WRITE, namespace=a)[1],
        read_default=client.keys.create(Scope.READ, namespace="default")[1],
    )


@pytest.fixture(scope="module")
def api(settings: Settings, client: Client) -> Iterator[TestClient]:
    """Keys required although the app is on loopback (auth=on)."""
    with serve(variant(settings, auth="on"), client) as http:
        yield http


def requests_in(namespace: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One request of each kind into ``namespace`` (method, path, JSON body)."""
    records = collection_path(namespace, COLLECTION, "records")
    return [
        ("GET", f"/v1/namespaces/{namespace}/collections", None),
        (
            "POST",
            f"/v1/namespaces/{namespace}/collections",
            {"name": "new", "embedder": "none", "dimensions": 3},
        ),
        ("GET", collection_path(namespace, COLLECTION), None),
        ("GET", collection_path(namespace, "missing"), None),
        ("DELETE", collection_path(namespace, COLLECTION), None),
        ("PUT", records, {"records": RECORDS}),
        ("GET", f"{records}/a", None),
        ("GET", f"{records}/missing", None),
        ("DELETE", f"{records}/a", None),
        ("POST", f"{records}/delete", {"ids": ["a"]}),
        ("POST", collection_path(namespace, COLLECTION, "search"), {"vector": [1, 0, 0]}),
        ("POST", collection_path(namespace, "missing", "search"), {"vector": [1, 0, 0]}),
    ]


def call(api: TestClient, method: str, path: str, body: Any, secret: str | None) -> httpx.Response:
    headers = bearer(secret) if secret else {}
    return api.request(method, path, json=body, headers=headers)


# ---- who is the caller ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer psk_this-key-was-never-issued"},
        {"X-API-Key": "psk_this-key-was-never-issued"},
        {"Authorization": "Bearer not-even-a-pgsimilar-key"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "psk_" + "x" * 300},
    ],
    ids=["none", "unknown-bearer", "unknown-x-api-key", "not-a-key", "empty", "basic", "too-long"],
)
def test_without_a_valid_key_every_route_is_401(
    api: TestClient, namespaces: tuple[str, str], headers: dict[str, str]
) -> None:
    a, _ = namespaces
    for method, path, body in [
        ("GET", "/v1/namespaces", None),
        ("POST", "/v1/namespaces", {"name": new_name()}),
        ("DELETE", f"/v1/namespaces/{a}", None),
        *requests_in(a),
        ("POST", "/embed", {"chunkId": "c", "text": "t"}),
        ("POST", "/search/pgvector", {"query": "t"}),
    ]:
        response = api.request(method, path, json=body, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer", path
    assert api.get(collection_path(a, COLLECTION)).status_code == 401


def test_health_and_docs_need_no_key(api: TestClient) -> None:
    assert api.get("/health").status_code == 200
    assert api.get("/openapi.json").status_code == 200


def test_a_key_goes_in_a_bearer_or_an_x_api_key_header(api: TestClient, keys: Keys) -> None:
    for headers in (
        {"Authorization": f"Bearer {keys.read_a}"},
        {"Authorization": f"bearer {keys.read_a}"},
        {"X-API-Key": keys.read_a},
    ):
        response = api.get("/v1/namespaces", headers=headers)
        assert response.status_code == 200, headers
    # A bearer key is the one that counts when both are sent.
    both = {"Authorization": "Bearer psk_unknown", "X-API-Key": keys.read_a}
    assert_error(api.get("/v1/namespaces", headers=both), 401)


def test_a_revoked_key_is_401(api: TestClient, client: Client, namespaces: tuple[str, str]) -> None:
    a, _ = namespaces
    key, secret = client.keys.create(Scope.READ_WRITE, namespace=a)
    assert api.get(f"/v1/namespaces/{a}/collections", headers=bearer(secret)).status_code == 200
    client.keys.revoke(key.id)
    assert_error(api.get(f"/v1/namespaces/{a}/collections", headers=bearer(secret)), 401, "unauthorized")
    assert_error(api.get(f"/v1/namespaces/{a}/collections", headers={"X-API-Key": secret}), 401)


# ---- what a key may do ----------------------------------------------------------------------------------


def test_a_read_key_reads_its_namespace(api: TestClient, keys: Keys, namespaces: tuple[str, str]) -> None:
    a, _ = namespaces
    headers = bearer(keys.read_a)
    listed = api.get(f"/v1/namespaces/{a}/collections", headers=headers).json()
    assert [item["name"] for item in listed["data"]] == [COLLECTION]
    assert api.get(collection_path(a, COLLECTION), headers=headers).json()["count"] == len(RECORDS)
    record = api.get(collection_path(a, COLLECTION, "records", "a"), headers=headers).json()
    assert record["metadata"] == {"n": 1}
    hits = api.post(collection_path(a, COLLECTION, "search"), json={"vector": [1, 0.1, 0]}, headers=headers)
    assert [hit["id"] for hit in hits.json()["data"]] == ["a", "b"]
    assert_error(api.get(collection_path(a, COLLECTION, "records", "nope"), headers=headers), 404)


def test_a_read_key_may_not_write(
    api: TestClient, client: Client, keys: Keys, namespaces: tuple[str, str]
) -> None:
    a, _ = namespaces
    writes = [request for request in requests_in(a) if request[0] != "GET" and "search" not in request[1]]
    writes += [("POST", "/v1/namespaces", {"name": new_name()}), ("DELETE", f"/v1/namespaces/{a}", None)]
    for method, path, body in writes:
        assert_error(call(api, method, path, body, keys.read_a), 403, "forbidden")
    collection = client.get_collection(COLLECTION, namespace=a)
    assert collection.count() == len(RECORDS)
    assert [info.name for info in client.list_collections(a)] == [COLLECTION]


def test_a_read_write_key_writes_its_namespace_only(
    api: TestClient, keys: Keys, namespaces: tuple[str, str]
) -> None:
    a, _ = namespaces
    headers = bearer(keys.write_a)
    name = new_name()
    body = {"name": name, "embedder": "none", "dimensions": 2}
    assert api.post(f"/v1/namespaces/{a}/collections", json=body, headers=headers).status_code == 201
    records = {"records": [{"id": "p", "vector": [1, 2]}, {"id": "q", "vector": [2, 1]}]}
    put = api.put(collection_path(a, name, "records"), json=records, headers=headers)
    assert put.json()["inserted"] == 2
    assert api.delete(collection_path(a, name, "records", "p"), headers=headers).status_code == 204
    deleted = api.post(collection_path(a, name, "records", "delete"), json={"ids": ["q"]}, headers=headers)
    assert deleted.json() == {"deleted": 1}
    assert api.delete(collection_path(a, name), headers=headers).status_code == 204
    # Namespaces themselves are the admin's.
    assert_error(api.post("/v1/namespaces", json={"name": new_name()}, headers=headers), 403, "forbidden")
    assert_error(api.delete(f"/v1/namespaces/{a}", headers=headers), 403, "forbidden")


def test_a_key_lists_only_its_namespace(api: TestClient, keys: Keys, namespaces: tuple[str, str]) -> None:
    a, b = namespaces
    for secret in (keys.read_a, keys.write_a):
        assert api.get("/v1/namespaces", headers=bearer(secret)).json() == {"data": [{"name": a}], "count": 1}
    everything = api.get("/v1/namespaces", headers=bearer(keys.admin)).json()
    names = [item["name"] for item in everything["data"]]
    assert {a, b, "default"} <= set(names)
    assert everything["count"] == len(names)


@pytest.mark.parametrize("which", ["read_a", "write_a"])
def test_another_namespace_is_404_for_everything(
    api: TestClient, keys: Keys, namespaces: tuple[str, str], client: Client, which: str
) -> None:
    _, b = namespaces
    secret = getattr(keys, which)
    for method, path, body in requests_in(b):
        error = assert_error(call(api, method, path, body, secret), 404, "namespace_not_found")
        assert error["message"] == f"namespace {b!r} does not exist", path
    assert client.get_collection(COLLECTION, namespace=b).count() == len(RECORDS)  # nothing changed
    assert [info.name for info in client.list_collections(b)] == [COLLECTION]


def test_a_hidden_namespace_reads_byte_for_byte_like_a_missing_one(
    api: TestClient, client: Client, keys: Keys
) -> None:
    hidden = make_namespace(client)
    try:
        requests = [
            *requests_in(hidden),
            ("DELETE", f"/v1/namespaces/{hidden}", None),
            ("DELETE", f"/v1/namespaces/{hidden}?cascade=true", None),
        ]

        def answers(secret: str) -> list[tuple[int, str, bytes]]:
            return [
                (response.status_code, response.headers["content-type"], response.content)
                for response in (call(api, method, path, body, secret) for method, path, body in requests)
            ]

        while_hidden = {secret: answers(secret) for secret in (keys.read_a, keys.write_a)}
    finally:
        client.drop_namespace(hidden, cascade=True)
    for secret, before in while_hidden.items():
        assert answers(secret) == before
        assert {status for status, _, _ in before[: len(requests_in(hidden))]} == {404}


def test_an_admin_key_sees_and_creates_everything(
    api: TestClient, keys: Keys, namespaces: tuple[str, str]
) -> None:
    a, b = namespaces
    headers = {"X-API-Key": keys.admin}
    for namespace in (a, b):
        assert api.get(collection_path(namespace, COLLECTION), headers=headers).json()["count"] == len(
            RECORDS
        )
    name = new_name()
    assert api.post("/v1/namespaces", json={"name": name}, headers=headers).status_code == 201
    body = {"name": "c", "embedder": "none", "dimensions": 2}
    assert api.post(f"/v1/namespaces/{name}/collections", json=body, headers=headers).status_code == 201
    records = {"records": [{"id": "p", "vector": [1, 2]}]}
    assert api.put(collection_path(name, "c", "records"), json=records, headers=headers).status_code == 200
    response = api.delete(f"/v1/namespaces/{name}", params={"cascade": True}, headers=headers)
    assert response.status_code == 204
    assert_error(api.get(collection_path(name, "c"), headers=headers), 404, "namespace_not_found")


def test_compat_endpoints_work_on_the_default_namespace(api: TestClient, keys: Keys) -> None:
    response = api.post(
        "/search/pgvector", json={"query": "anything", "limit": 1}, headers=bearer(keys.read_default)
    )
    assert response.status_code == 200
    assert list(response.json()) == ["results"]
    body = {"chunkId": "c", "text": "t"}
    assert_error(api.post("/embed", json=body, headers=bearer(keys.read_default)), 403, "forbidden")
    for secret in (keys.read_a, keys.write_a):
        assert_error(api.post("/embed", json=body, headers=bearer(secret)), 404, "namespace_not_found")
        assert_error(
            api.post("/search/pgvector", json={"query": "t"}, headers=bearer(secret)),
            404,
            "namespace_not_found",
        )


def test_metrics_do_not_reveal_hidden_namespaces(
    api: TestClient, keys: Keys, namespaces: tuple[str, str]
) -> None:
    _, b = namespaces
    for headers in ({}, bearer(keys.read_a)):
        response = api.get("/metrics", headers=headers)
        assert response.status_code in (401, 403, 404) or b not in response.text


# ---- when keys are required -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "host", "required"),
    [
        ("auto", "127.0.0.1", False),
        ("auto", "localhost", False),
        ("auto", "::1", False),
        ("auto", "0.0.0.0", True),
        ("auto", "192.168.1.20", True),
        ("auto", None, True),
        ("off", "0.0.0.0", False),
        ("on", "127.0.0.1", True),
    ],
)
def test_keys_are_required_off_loopback_unless_turned_off(
    settings: Settings, client: Client, auth: str, host: str | None, required: bool
) -> None:
    with serve(variant(settings, auth=auth), client, host=host) as http:
        response = http.get("/v1/namespaces")
        if required:
            assert_error(response, 401, "unauthorized")
        else:
            assert response.status_code == 200


# ---- pgsimilar keys -------------------------------------------------------------------------------------


@pytest.fixture
def keys_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs ``pgsimilar keys ARGS...`` in-process, configured by the environment only."""
    for key in list(os.environ):
        if key.startswith("PGSIMILAR_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PGSIMILAR_DATA_DIR", str(settings.data_dir))
    if settings.database_url is not None:
        monkeypatch.setenv("PGSIMILAR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli_app, ["keys", *args])

    return run


def test_keys_made_by_the_cli_open_the_api_until_revoked(
    keys_cli: Any, api: TestClient, namespaces: tuple[str, str]
) -> None:
    a, b = namespaces
    result = keys_cli("create", "--namespace", a, "--scope", "read_write", "--name", "cli key", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["namespace"] == a
    assert created["scope"] == "read_write"
    assert created["revoked"] is False
    secret = created["secret"]
    assert secret.startswith(created["prefix"])

    headers = bearer(secret)
    assert api.get("/v1/namespaces", headers=headers).json()["data"] == [{"name": a}]
    records = {"records": [{"id": "cli", "vector": [1, 1, 1]}]}
    assert (
        api.put(collection_path(a, COLLECTION, "records"), json=records, headers=headers).status_code == 200
    )
    assert api.delete(collection_path(a, COLLECTION, "records", "cli"), headers=headers).status_code == 204
    assert_error(api.get(collection_path(b, COLLECTION), headers=headers), 404, "namespace_not_found")

    listed = keys_cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    mine = [key for key in json.loads(listed.stdout) if key["id"] == created["id"]]
    assert len(mine) == 1
    assert "secret" not in mine[0]
    assert secret not in listed.stdout
    assert mine[0]["name"] == "cli key"

    text = keys_cli("list")
    assert text.exit_code == 0
    assert created["prefix"] in text.stdout

    revoked = keys_cli("revoke", str(created["id"]))
    assert revoked.exit_code == 0, revoked.output
    assert_error(api.get("/v1/namespaces", headers=headers), 401, "unauthorized")
    again = [key for key in json.loads(keys_cli("list", "--json").stdout) if key["id"] == created["id"]]
    assert again[0]["revoked"] is True


def test_an_admin_key_from_the_cli_creates_namespaces(keys_cli: Any, api: TestClient) -> None:
    result = keys_cli("create", "--admin")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("psk_")
    name = new_name()
    assert api.post("/v1/namespaces", json={"name": name}, headers=bearer(secret)).status_code == 201
    assert api.delete(f"/v1/namespaces/{name}", headers=bearer(secret)).status_code == 204


@pytest.mark.parametrize(
    "args",
    [
        ("create", "--namespace", "no-such-namespace"),
        ("create",),  # a read key needs a namespace
        ("create", "--admin", "--namespace", "default"),
        ("revoke", "987654321"),
    ],
)
def test_the_keys_cli_refuses_clearly(keys_cli: Any, args: tuple[str, ...]) -> None:
    result = keys_cli(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.strip().startswith("error: ")
