"""Uploads over HTTP: 202 and a job at once, progress polled to the end by in-process workers, search after."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pgsimilar import Client
from pgsimilar.config import Settings
from pgsimilar.core.keys import Scope

from .api_helpers import assert_error, collection_path, new_name, serve, variant
from .fashion_mnist import fashion_test_set, png, zip_of_pngs


@pytest.fixture(scope="module")
def namespace(client: Client) -> Iterator[str]:
    name = new_name()
    client.create_namespace(name)
    yield name
    client.drop_namespace(name, cascade=True)


@pytest.fixture(scope="module")
def http(settings: Settings, client: Client) -> Iterator[TestClient]:
    with serve(variant(settings, job_workers=2, job_batch_size=32), client) as test_client:
        yield test_client


@pytest.fixture
def pictures(http: TestClient, namespace: str) -> str:
    name = new_name()
    response = http.post(
        f"/v1/namespaces/{namespace}/collections", json={"name": name, "embedder": "minilm-vision"}
    )
    assert response.status_code == 201, response.text
    return name


def wait_for(http: TestClient, job_id: str, *, timeout: float = 300) -> tuple[dict[str, Any], list[float]]:
    """Poll a job until it has finished; its last state and every percent seen on the way."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        seen.append(job["percent"])
        if job["status"] not in ("queued", "running"):
            return job, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def test_an_archive_of_fashion_mnist_pictures_is_uploaded_polled_and_searched(
    http: TestClient, namespace: str, pictures: str
) -> None:
    archive, pngs, labels = zip_of_pngs(300)
    trousers = int(list(labels).index(1))  # a class the model tells apart well
    response = http.post(
        collection_path(namespace, pictures, "uploads"),
        files=[("files", ("fashion.zip", archive, "application/zip"))],
        data={"metadata": json.dumps({"set": "fashion-mnist"})},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running") and job["namespace"] == namespace

    job, seen = wait_for(http, job["id"])
    assert (job["status"], job["total"], job["done"], job["failed"]) == ("succeeded", 300, 300, 0)
    assert seen == sorted(seen) and seen[-1] == 100.0
    assert job["started_at"] and job["finished_at"] and job["errors"] == []

    search = http.post(
        collection_path(namespace, pictures, "search", "image"),
        files={"file": ("query.png", pngs[trousers], "image/png")},
        data={"k": "10"},
    )
    hits = search.json()["data"]
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["metadata"]["set"] == "fashion-mnist"
    same_class = [hit["metadata"]["label"] == "trouser" for hit in hits]
    assert sum(same_class) >= 5, hits  # image-to-image search finds the picture's own kind

    listed = http.get("/v1/jobs", params={"namespace": namespace}).json()
    assert job["id"] in [entry["id"] for entry in listed["data"]]
    assert_error(http.post(f"/v1/jobs/{job['id']}/cancel"), 409, "job_finished")


def test_per_item_errors_are_reported_by_name(http: TestClient, namespace: str, pictures: str) -> None:
    pixels, _ = fashion_test_set(2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.png", png(pixels[0]))
        archive.writestr("../../etc/cron.d/evil.png", png(pixels[1]))
        archive.writestr("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    files = [
        ("files", ("pictures.zip", buffer.getvalue(), "application/zip")),
        ("files", ("notes.bin", b"\x00\x01\x02", "application/octet-stream")),
    ]
    response = http.post(collection_path(namespace, pictures, "uploads"), files=files)
    assert response.status_code == 202, response.text
    job, _ = wait_for(http, response.json()["id"])
    assert (job["status"], job["done"], job["failed"]) == ("partially_failed", 1, 3)
    reasons = {error["name"]: error["reason"] for error in job["errors"]}
    assert set(reasons) == {"../../etc/cron.d/evil.png", "broken.jpg", "notes.bin"}
    assert {error["source"] for error in job["errors"]} == {"pictures.zip", None}


def test_urls_come_as_json(http: TestClient, namespace: str, pictures: str) -> None:
    body = {"urls": ["http://127.0.0.1:9/a.png", {"url": "file:///etc/passwd"}], "metadata": {"a": 1}}
    response = http.post(collection_path(namespace, pictures, "uploads"), json=body)
    assert response.status_code == 202, response.text
    job, _ = wait_for(http, response.json()["id"])
    assert (job["status"], job["failed"]) == ("failed", 2)
    reasons = {error["name"]: error["reason"] for error in job["errors"]}
    assert "PGSIMILAR_URL_ALLOW_PRIVATE_ADDRESSES" in reasons["http://127.0.0.1:9/a.png"]
    assert "http" in reasons["file:///etc/passwd"]


@pytest.mark.parametrize(
    ("request_options", "status", "code"),
    [
        ({"content": b"raw", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"json": {"urls": []}}, 400, None),
        ({"json": {"urls": ["http://example.com/a.png"], "extra": 1}}, 400, None),
        ({"data": {"metadata": "{}"}, "files": [("other", ("a.png", b"x"))]}, 400, None),
        ({"files": [("files", ("a.png", b"x"))], "data": {"metadata": "[1, 2]"}}, 400, None),
        ({"files": [("files", ("a.png", b"x"))], "data": {"metadata": "{oops"}}, 400, None),
    ],
    ids=[
        "content-type",
        "no-urls",
        "unknown-field",
        "unknown-form-field",
        "metadata-not-object",
        "metadata-not-json",
    ],
)
def test_malformed_uploads_are_refused(
    http: TestClient,
    namespace: str,
    pictures: str,
    request_options: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    response = http.post(collection_path(namespace, pictures, "uploads"), **request_options)
    assert_error(response, status, code)


def test_unknown_collections_jobs_and_ids(http: TestClient, namespace: str) -> None:
    files = [("files", ("a.png", b"x"))]
    assert_error(
        http.post(collection_path(namespace, "nope", "uploads"), files=files), 404, "collection_not_found"
    )
    assert_error(http.get("/v1/jobs/00000000-0000-0000-0000-000000000000"), 404, "job_not_found")
    assert_error(http.get("/v1/jobs/not-a-uuid"), 404, "job_not_found")
    assert_error(http.post("/v1/jobs/not-a-uuid/cancel"), 404, "job_not_found")


def test_upload_size_and_item_limits(
    settings: Settings, client: Client, namespace: str, pictures: str
) -> None:
    limited = variant(settings, max_upload_bytes=4096, max_upload_items=2, job_workers=0)
    with Client(settings=limited) as limited_client, serve(limited, limited_client) as http:
        path = collection_path(namespace, pictures, "uploads")
        big = [("files", ("big.png", b"x" * 10_000))]
        assert_error(http.post(path, files=big), 413, "request_too_large")
        three = [("files", (f"{n}.png", b"x")) for n in range(3)]
        assert "at most 2 items" in assert_error(http.post(path, files=three), 400)["message"]
        assert http.post(path, files=three[:2]).status_code == 202
        metrics = http.get("/metrics").text
        backlog = next(
            line for line in metrics.splitlines() if line.startswith("pgsimilar_job_items_pending ")
        )
        assert float(backlog.split()[1]) >= 0  # a number (other tests' workers may have taken the items)


def test_keys_see_and_cancel_only_their_namespace_s_jobs(
    settings: Settings, client: Client, namespace: str, pictures: str
) -> None:
    other = new_name()
    client.create_namespace(other)
    try:
        _, reader = client.keys.create(Scope.READ, namespace=namespace)
        _, writer = client.keys.create(Scope.READ_WRITE, namespace=namespace)
        _, stranger = client.keys.create(Scope.READ_WRITE, namespace=other)
        with serve(variant(settings, auth="on", job_workers=0), client) as http:
            path = collection_path(namespace, pictures, "uploads")
            files = [("files", ("a.png", b"x"))]
            assert_error(http.post(path, files=files, headers={"X-API-Key": reader}), 403, "forbidden")
            created = http.post(path, files=files, headers={"X-API-Key": writer})
            assert created.status_code == 202
            job_id = created.json()["id"]
            assert http.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": reader}).status_code == 200
            hidden = http.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": stranger})
            missing = http.get(
                "/v1/jobs/00000000-0000-0000-0000-000000000000", headers={"X-API-Key": stranger}
            )
            assert_error(hidden, 404, "job_not_found")
            assert hidden.json()["error"]["message"].replace(job_id, "ID") == missing.json()["error"][
                "message"
            ].replace("00000000-0000-0000-0000-000000000000", "ID")
            assert http.get("/v1/jobs", headers={"X-API-Key": stranger}).json()["data"] == []
            assert_error(
                http.get("/v1/jobs", params={"namespace": namespace}, headers={"X-API-Key": stranger}), 404
            )
            assert_error(http.post(f"/v1/jobs/{job_id}/cancel", headers={"X-API-Key": reader}), 403)
            assert_error(http.post(f"/v1/jobs/{job_id}/cancel", headers={"X-API-Key": stranger}), 404)
            # Allowed: cancelled, or finished already by the workers of the other tests' server.
            cancelled = http.post(f"/v1/jobs/{job_id}/cancel", headers={"X-API-Key": writer})
            assert cancelled.status_code in (200, 409), cancelled.text
            assert_error(http.get("/v1/jobs"), 401)
    finally:
        client.drop_namespace(other, cascade=True)
