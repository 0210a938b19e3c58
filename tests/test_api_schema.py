"""Every operation of the OpenAPI schema, fuzzed by schemathesis: no 5xx, and answers as documented.

The app runs with keys off on a prepared namespace and collection (``none`` embedder, 3 dimensions, a
few records); generated path parameters are mostly swapped for those real names, so that requests
reach real data as well as missing namespaces, collections and records.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pgsimilar import Client
from pgsimilar.api.app import create_app
from pgsimilar.config import Settings
from pgsimilar.errors import NamespaceExists

from .api_helpers import new_name, variant

EXAMPLES = int(os.environ.get("PGSIMILAR_TEST_FUZZ_EXAMPLES", "20"))
NAMESPACE = new_name()
COLLECTION = "fuzzed"
# With text: a record without one is answered against its schema (test_a_record_without_text_...).
RECORDS = [
    {"id": "a", "text": "first", "vector": [1.0, 0.0, 0.0], "metadata": {"n": 1, "tag": "x"}},
    {"id": "b", "text": "second", "vector": [0.0, 1.0, 0.0], "metadata": {"n": 2, "tag": "y"}},
    {"id": "c", "text": "third", "vector": [0.5, 0.5, 0.5], "metadata": {"n": 3}},
]


def ensure_data(client: Client) -> None:
    """The prepared namespace, collection and records, whatever earlier requests deleted."""
    with contextlib.suppress(NamespaceExists):
        client.create_namespace(NAMESPACE)
    collection = client.create_collection(
        COLLECTION, namespace=NAMESPACE, embedder="none", dimensions=3, exist_ok=True
    )
    collection.upsert(RECORDS)


@pytest.fixture(scope="module")
def fuzz_client(settings: Settings) -> Iterator[Client]:
    """A client of its own, so that /embed writes to a collection of this module's."""
    own = variant(settings, auth="off", compat_collection=new_name(), compat_embedder="minilm")
    with Client(settings=own) as client:
        before = set(client.list_namespaces())
        ensure_data(client)
        yield client
        for namespace in set(client.list_namespaces()) - before:
            client.drop_namespace(namespace, cascade=True)
        client.drop_collection(own.compat_collection, missing_ok=True)


# What every answer must satisfy. Left out: positive_data_acceptance (a schema-valid vector of the
# wrong length is rightly a 400), and unsupported_method (Starlette's Allow header names only the
# first route's methods for a path with several).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
]

# The schema is read at collection time from an app that is never started (nothing connects); the
# requests go to an app on the session's database (``app=`` in the test). A test checks the two agree.
schema = schemathesis.openapi.from_dict(create_app(Settings(auth="off")).openapi())


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Mostly the real names (so that requests find data), sometimes what was generated."""
    if not path_parameters or "ns" not in path_parameters:
        return st.just(path_parameters)
    real = {**path_parameters, "ns": NAMESPACE}
    if "name" in real:
        real["name"] = COLLECTION
    choices = [path_parameters, real, real]
    if "record_id" in real:
        choices += [{**real, "record_id": record["id"]} for record in RECORDS]
    return st.sampled_from(choices)


@pytest.fixture(scope="module")
def fuzz_app(fuzz_client: Client) -> Any:
    return create_app(fuzz_client.settings, client=fuzz_client, host="127.0.0.1")


def test_the_fuzzed_schema_is_the_one_served(fuzz_app: Any) -> None:
    with TestClient(fuzz_app) as http:
        assert http.get("/openapi.json").json() == schema.raw_schema


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any, fuzz_app: Any, fuzz_client: Client) -> None:
    ensure_data(fuzz_client)
    response = case.call_and_validate(app=fuzz_app, checks=CHECKS)
    assert "Traceback" not in response.text
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code >= 400 and content_type.startswith("application/json"):
        assert list(response.json()) == ["error"], response.text


# ---- what the fuzzing found ------------------------------------------------------------------------


def test_an_image_search_with_a_filter_that_is_not_an_object_is_refused(fuzz_app: Any) -> None:
    with TestClient(fuzz_app, raise_server_exceptions=False) as http:
        response = http.post(
            f"/v1/namespaces/{NAMESPACE}/collections/{COLLECTION}/search/image",
            files={"file": ("query.png", b"not really an image", "image/png")},
            data={"filter": "false"},
        )
    assert response.status_code in (400, 422), response.text


def test_a_record_without_text_answers_as_its_schema_says(fuzz_app: Any, fuzz_client: Client) -> None:
    ensure_data(fuzz_client)
    collection = fuzz_client.get_collection(COLLECTION, namespace=NAMESPACE)
    collection.upsert([{"id": "bare", "vector": [1, 1, 0]}])
    try:
        operation = schema["/v1/namespaces/{ns}/collections/{name}/records/{record_id}"]["GET"]
        case = operation.Case(path_parameters={"ns": NAMESPACE, "name": COLLECTION, "record_id": "bare"})
        case.call_and_validate(app=fuzz_app, checks=[not_a_server_error, response_schema_conformance])
    finally:
        collection.delete(["bare"])


def test_error_statuses_are_documented() -> None:
    raw = schema.raw_schema
    problems = []
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "{ns}" in path and "404" not in responses:
                problems.append(f"{method.upper()} {path}: 404 undocumented")
            if "422" in responses:
                ref = responses["422"]["content"]["application/json"]["schema"].get("$ref", "")
                documented = raw["components"]["schemas"][ref.rsplit("/", 1)[-1]]
                if "error" not in documented.get("properties", {}):
                    problems.append(f"{method.upper()} {path}: 422 is not the error envelope")
    assert problems == []
