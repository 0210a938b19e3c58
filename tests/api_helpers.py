"""Helpers for the REST API tests: apps on the session's database, and the shape every error must have."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi.testclient import TestClient

from pgsimilar import Client
from pgsimilar.api.app import create_app
from pgsimilar.config import Settings

LOOPBACK = "127.0.0.1"


def new_name() -> str:
    """A namespace or collection name that no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def variant(settings: Settings, **changes: Any) -> Settings:
    """The session's settings (same database) with ``changes``, validated as the environment's would be."""
    return Settings(**{**settings.model_dump(), **changes})


@contextmanager
def serve(
    settings: Settings, client: Client, *, host: str | None = LOOPBACK, **options: Any
) -> Iterator[TestClient]:
    """The app over HTTP, with its lifespan running (``host`` decides auth when ``settings.auth`` is auto)."""
    with TestClient(create_app(settings, client=client, host=host), **options) as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An error answer: the status, ``{"error": {"code", "message"}}`` as JSON, and no stack trace."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert isinstance(error, dict)
    assert {"code", "message"} <= set(error), error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return error


def collection_path(namespace: str, name: str, *rest: str) -> str:
    return "/".join([f"/v1/namespaces/{namespace}/collections/{name}", *rest])
