"""``pgsimilar serve`` as a real process on loopback: search over HTTP, keys off on loopback but required
on other addresses, and model inference that never stalls the server's other requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pgsimilar import Client
from pgsimilar.config import Settings
from pgsimilar.core.keys import Scope

from .api_helpers import assert_error, new_name
from .openai_stub import DEFAULT_KEY, OpenAIStub

STARTUP_TIMEOUT = 90.0
PGSIMILAR = Path(sys.executable).parent / "pgsimilar"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of the server: the session's database and nothing of the developer's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PGSIMILAR_", "OPENAI_"))}
    env["PGSIMILAR_DATA_DIR"] = str(settings.data_dir)
    env["PYTHONUNBUFFERED"] = "1"  # its log is read while it runs
    if settings.database_url is not None:
        env["PGSIMILAR_DATABASE_URL"] = settings.database_url
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> Iterator[Server]:
    """Runs ``pgsimilar serve ARGS`` until the generator is closed; ready once /health answers 200."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PGSIMILAR), "serve", "--port", str(port), "--log-level", "warning", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"pgsimilar serve exited with {process.returncode}:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"pgsimilar serve did not answer /health in {STARTUP_TIMEOUT:.0f} s:\n{server.output()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.fixture(scope="module")
def compat_collection(client: Client) -> Iterator[str]:
    name = new_name()
    yield name
    client.drop_collection(name, missing_ok=True)


@pytest.fixture(scope="module")
def server(
    settings: Settings, stub: OpenAIStub, compat_collection: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``pgsimilar serve`` on 127.0.0.1 whose /embed uses the openai embedder (the stub)."""
    env = server_env(
        settings,
        PGSIMILAR_COMPAT_EMBEDDER="openai",
        PGSIMILAR_COMPAT_COLLECTION=compat_collection,
        OPENAI_BASE_URL=stub.url,
        OPENAI_API_KEY=DEFAULT_KEY,
        PGSIMILAR_OPENAI_MAX_RETRIES="1",
        PGSIMILAR_OPENAI_TIMEOUT="30",
    )
    yield from start([], env, tmp_path_factory.mktemp("serve") / "server.log")


def test_search_over_http_with_the_real_model(server: Server) -> None:
    namespace, name = new_name(), new_name()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.post("/v1/namespaces", json={"name": namespace}).status_code == 201
        try:
            collections = f"/v1/namespaces/{namespace}/collections"
            assert http.post(collections, json={"name": name}).status_code == 201
            records = [
                {"id": "tea", "text": "A pot of green tea steeping.", "metadata": {"kind": "drink"}},
                {"id": "bike", "text": "A mountain bike with a broken chain.", "metadata": {"kind": "sport"}},
                {"id": "snow", "text": "Fresh snow on the ski slopes.", "metadata": {"kind": "sport"}},
            ]
            upserted = http.put(f"{collections}/{name}/records", json={"records": records})
            assert upserted.json()["embedded"] == 3
            hits = http.post(f"{collections}/{name}/search", json={"text": "cycling", "k": 2}).json()
            assert hits["data"][0]["id"] == "bike"
            filtered = http.post(
                f"{collections}/{name}/search", json={"text": "a hot drink", "filter": {"kind": "sport"}}
            ).json()
            assert {hit["id"] for hit in filtered["data"]} == {"bike", "snow"}
            assert http.get("/health").json()["models"].get("minilm") is True
            metrics = http.get("/metrics").text
            assert (
                f'pgsimilar_collection_records{{collection="{name}",namespace="{namespace}"}} 3.0' in metrics
            )
        finally:
            http.delete(f"/v1/namespaces/{namespace}", params={"cascade": True})


def test_keys_are_off_on_loopback(server: Server) -> None:
    response = httpx.get(f"{server.url}/v1/namespaces", timeout=30)
    assert response.status_code == 200
    assert {"name": "default"} in response.json()["data"]
    assert "API keys off" in server.output()


def test_a_slow_embedding_does_not_stall_other_requests(server: Server, stub: OpenAIStub) -> None:
    stall = 3.5
    stub.fail_next(1, 500, stall=stall)  # answers 500 after the stall; the embedder then retries
    seen = len(stub.requests)
    outcome: dict[str, object] = {}

    def embed() -> None:
        started = time.monotonic()
        response = httpx.post(
            f"{server.url}/embed", json={"chunkId": "slow", "text": "a slow chunk"}, timeout=60
        )
        outcome["seconds"] = time.monotonic() - started
        outcome["response"] = response

    worker = threading.Thread(target=embed)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while len(stub.requests) == seen:  # wait until the embedding request is in flight
            assert time.monotonic() < deadline, "the server never called the embedding service"
            time.sleep(0.02)
        for path in ("/health", "/v1/namespaces"):
            started = time.monotonic()
            response = httpx.get(f"{server.url}{path}", timeout=30)
            elapsed = time.monotonic() - started
            assert response.status_code == 200
            assert elapsed < 1.5, f"{path} took {elapsed:.2f} s while an embedding was in flight"
        assert "response" not in outcome, "the embedding finished before the other requests were timed"
    finally:
        worker.join(timeout=60)
    response = outcome["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200, response.text
    assert response.json() == {"chunkId": "slow", "dimensions": 1536, "model": "text-embedding-3-small"}
    assert isinstance(outcome["seconds"], float) and outcome["seconds"] >= 3.0


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [(["--host", "0.0.0.0"], {}), ([], {"PGSIMILAR_AUTH": "on"})],
    ids=["all-addresses", "auth-on"],
)
def test_keys_are_required_off_loopback_or_when_turned_on(
    settings: Settings,
    client: Client,
    tmp_path: Path,
    args: list[str],
    extra_env: dict[str, str],
) -> None:
    key, secret = client.keys.create(Scope.ADMIN, name="serve test")
    servers = start(args, server_env(settings, **extra_env), tmp_path / "server.log")
    running = next(servers)
    try:
        assert "API keys on" in running.output()
        response = httpx.get(f"{running.url}/v1/namespaces", timeout=30)
        error = assert_error(response, 401, "unauthorized")
        assert "API key" in error["message"]
        assert response.headers["www-authenticate"] == "Bearer"
        search = httpx.post(f"{running.url}/search/pgvector", json={"query": "x"}, timeout=30)
        assert_error(search, 401, "unauthorized")
        allowed = httpx.get(f"{running.url}/v1/namespaces", headers={"X-API-Key": secret}, timeout=30)
        assert allowed.status_code == 200
        assert httpx.get(f"{running.url}/health", timeout=30).status_code == 200
    finally:
        servers.close()
        client.keys.revoke(key.id)
