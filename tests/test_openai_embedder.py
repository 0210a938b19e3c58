"""The ``openai`` embedder against a local server that speaks OpenAI's embeddings protocol."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from pgsimilar.config import Settings
from pgsimilar.embedders.openai import OpenAIEmbedder
from pgsimilar.embedders.registry import create_embedder
from pgsimilar.errors import ConfigurationError, EmbedderError, EmbedderUnavailable, InvalidInput

from .openai_stub import OpenAIStub

KEY = "sk-stub-key"
TEXTS = ["a cat sat on the mat", "the dog ate my homework", "a cat and a dog", "quarterly tax report"]

MakeEmbedder = Callable[..., OpenAIEmbedder]


@pytest.fixture(autouse=True)
def _no_proxies_and_fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(OpenAIEmbedder, "retry_base_delay", 0.001)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(api_key=KEY) as server:
        yield server


def make_settings(base_url: str, **overrides: Any) -> Settings:
    """Every openai setting given explicitly, so that the developer's environment never leaks in."""
    values: dict[str, Any] = {
        "openai_base_url": base_url,
        "openai_api_key": KEY,
        "openai_model": "text-embedding-3-small",
        "openai_dimensions": None,
        "openai_batch_size": 256,
        "openai_timeout": 5.0,
        "openai_max_retries": 3,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_embedder(stub: OpenAIStub) -> Iterator[MakeEmbedder]:
    """Builds embedders aimed at the stub (unless told otherwise) and closes them after the test."""
    made: list[OpenAIEmbedder] = []

    def make(options: dict[str, Any] | None = None, **settings: Any) -> OpenAIEmbedder:
        embedder = OpenAIEmbedder(
            make_settings(settings.pop("openai_base_url", stub.url), **settings), options or {}
        )
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        embedder.close()


def test_vectors_match_the_server_in_input_order(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    vectors = make_embedder().embed_texts(TEXTS)

    assert vectors.shape == (4, 1536)
    assert vectors.dtype == np.float32
    # The stub answers in reverse index order: equality proves the embedder sorts by index.
    np.testing.assert_array_equal(vectors, np.stack([stub.expected(text) for text in TEXTS]))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[3]  # shared words are closer


def test_request_shape_and_headers(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    make_embedder().embed_texts(["hello"])

    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/embeddings")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {"model": "text-embedding-3-small", "input": ["hello"], "encoding_format": "float"}


def test_inputs_are_sent_in_batches(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    texts = [f"text number {i}" for i in range(10)]

    vectors = make_embedder(openai_batch_size=4).embed_texts(texts)

    assert [request.body["input"] for request in stub.requests] == [texts[0:4], texts[4:8], texts[8:10]]
    np.testing.assert_array_equal(vectors, np.stack([stub.expected(text) for text in texts]))


@pytest.mark.parametrize("source", ["options", "settings"])
def test_explicit_dimensions_are_sent_and_honoured(
    stub: OpenAIStub, make_embedder: MakeEmbedder, source: str
) -> None:
    if source == "options":
        embedder = make_embedder({"dimensions": 256})
    else:
        embedder = make_embedder(openai_dimensions=256)

    vectors = embedder.embed_texts(TEXTS[:2])

    assert embedder.dimensions == 256
    assert stub.requests[0].body["dimensions"] == 256
    expected = np.stack([stub.expected(text, dimensions=256) for text in TEXTS[:2]])
    np.testing.assert_array_equal(vectors, expected)


def test_model_from_options_wins_over_settings(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    embedder = make_embedder({"model": "text-embedding-3-large"})

    vectors = embedder.embed_texts(["big"])

    assert vectors.shape == (1, 3072)
    assert stub.requests[0].body["model"] == "text-embedding-3-large"
    assert "dimensions" not in stub.requests[0].body


def test_empty_input_makes_no_request(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    vectors = make_embedder({"dimensions": 64}).embed_texts([])

    assert vectors.shape == (0, 64)
    assert vectors.dtype == np.float32
    assert stub.requests == []


@pytest.mark.parametrize("texts", [["ok", ""], "a single string", ["ok", None]])
def test_bad_texts_are_refused_before_any_request(
    stub: OpenAIStub, make_embedder: MakeEmbedder, texts: Any
) -> None:
    with pytest.raises(InvalidInput):
        make_embedder().embed_texts(texts)
    assert stub.requests == []


def test_retry_after_is_honoured_on_429(
    stub: OpenAIStub, make_embedder: MakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a 20 s backoff, finishing quickly shows that the server's Retry-After was used instead.
    monkeypatch.setattr(OpenAIEmbedder, "retry_base_delay", 20.0)
    stub.fail_next(1, 429, retry_after=0.2)

    started = time.monotonic()
    vectors = make_embedder().embed_texts(["retry me"])
    elapsed = time.monotonic() - started

    assert 0.2 <= elapsed < 5
    assert len(stub.requests) == 2
    np.testing.assert_array_equal(vectors[0], stub.expected("retry me"))


def test_server_errors_are_retried_until_success(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    stub.fail_next(1, 500)
    stub.fail_next(1, 502)
    stub.fail_next(1, 503)

    vectors = make_embedder(openai_max_retries=3).embed_texts(["eventually"])

    assert len(stub.requests) == 4
    assert vectors.shape == (1, 1536)


def test_exhausted_retries_raise_unavailable(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    stub.fail_next(10, 503, message="Service overloaded, try later")

    with pytest.raises(EmbedderUnavailable, match="503") as caught:
        make_embedder(openai_max_retries=2).embed_texts(["never"])

    assert "Service overloaded, try later" in str(caught.value)
    assert len(stub.requests) == 3


def test_timeouts_are_retried(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    stub.fail_next(1, 500, stall=3.0)

    vectors = make_embedder(openai_timeout=0.3, openai_max_retries=1).embed_texts(["slow"])

    assert len(stub.requests) == 2
    np.testing.assert_array_equal(vectors[0], stub.expected("slow"))


def test_wrong_key_fails_at_once_without_leaking_it(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    secret = "sk-wrong-secret-0123456789"

    with pytest.raises(EmbedderError, match="401") as caught:
        make_embedder(openai_api_key=secret).embed_texts(["hello"])

    assert not isinstance(caught.value, EmbedderUnavailable)
    assert "Incorrect API key provided" in str(caught.value)
    assert secret not in str(caught.value)
    assert len(stub.requests) == 1


def test_key_echoed_by_a_server_is_redacted(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    secret = "sk-echoed-secret-abcdef"
    stub.fail_next(1, 400, message=f"bad request from key {secret}")

    with pytest.raises(EmbedderError) as caught:
        make_embedder(openai_api_key=secret).embed_texts(["hello"])

    assert secret not in str(caught.value)
    assert "bad request from key ***" in str(caught.value)


def test_unknown_model_is_an_error_without_retry(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    with pytest.raises(EmbedderError, match="does not exist") as caught:
        make_embedder({"model": "no-such-model", "dimensions": 32}).embed_texts(["hello"])

    assert "404" in str(caught.value)
    assert len(stub.requests) == 1


def test_wrong_dimensions_from_the_server(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    stub.override_dimensions = 8

    with pytest.raises(EmbedderError, match=r"8 dimensions, expected 1536"):
        make_embedder().embed_texts(["hello"])


def test_unreachable_server_is_unavailable(make_embedder: MakeEmbedder) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    embedder = make_embedder(openai_base_url=f"http://127.0.0.1:{port}/v1", openai_max_retries=1)

    with pytest.raises(EmbedderUnavailable, match="could not reach"):
        embedder.embed_texts(["hello"])


def test_missing_key_for_openai_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no request may be sent")

    monkeypatch.setattr(httpx.Client, "send", no_network)
    embedder = OpenAIEmbedder(make_settings("https://api.openai.com/v1", openai_api_key=None), {})

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        embedder.embed_texts(["hello"])
    embedder.close()


def test_local_server_without_key() -> None:
    with OpenAIStub(api_key=None, models={"local-embedder": 48}) as local:
        embedder = OpenAIEmbedder(
            make_settings(local.url, openai_api_key=None), {"model": "local-embedder", "dimensions": 48}
        )
        try:
            vectors = embedder.embed_texts(["offline"])
        finally:
            embedder.close()

        assert "authorization" not in local.requests[0].headers
        assert local.requests[0].body["dimensions"] == 48
        np.testing.assert_array_equal(vectors[0], local.expected("offline", model="local-embedder"))


def test_one_embedder_serves_many_threads(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    embedder = make_embedder()
    results: dict[int, Any] = {}

    def work(i: int) -> None:
        results[i] = embedder.embed_texts([f"thread {i}", "shared"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(stub.requests) == 8
    for i, vectors in results.items():
        np.testing.assert_array_equal(vectors[0], stub.expected(f"thread {i}"))


@pytest.mark.parametrize(
    ("model", "dimensions"),
    [("text-embedding-3-small", 1536), ("text-embedding-3-large", 3072), ("text-embedding-ada-002", 1536)],
)
def test_known_models_have_default_dimensions(model: str, dimensions: int) -> None:
    embedder = OpenAIEmbedder(make_settings("https://api.openai.com/v1", openai_model=model), {})

    assert embedder.dimensions == dimensions
    assert embedder.model_id == model
    assert embedder.options() == {
        "model": model,
        "dimensions": dimensions,
        "base_url": "https://api.openai.com/v1",
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "my-local-model"}, "pass dimensions"),
        ({"dimensions": 0}, "from 1 to 16000"),
        ({"dimensions": "256"}, "from 1 to 16000"),
        ({"dimensions": 4096}, "at most 1536"),
        ({"model": "text-embedding-ada-002", "dimensions": 256}, "always returns 1536"),
        ({"model": ""}, "non-empty string"),
    ],
)
def test_invalid_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        OpenAIEmbedder(make_settings("https://api.openai.com/v1"), options)


@pytest.mark.parametrize("base_url", ["ftp://example.com/v1", "not a url", "/v1"])
def test_invalid_base_url(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_BASE_URL"):
        OpenAIEmbedder(make_settings(base_url), {})


def test_stored_options_rebuild_the_same_embedder(stub: OpenAIStub, make_embedder: MakeEmbedder) -> None:
    first = make_embedder({"model": "text-embedding-3-large", "dimensions": 512, "base_url": stub.url + "/"})
    # Settings that differ later must not change what an existing collection's queries use.
    again = make_embedder(first.options(), openai_model="text-embedding-ada-002")

    assert (
        again.options()
        == first.options()
        == {
            "model": "text-embedding-3-large",
            "dimensions": 512,
            "base_url": stub.url,
        }
    )
    np.testing.assert_array_equal(first.embed_texts(["same"]), again.embed_texts(["same"]))


def test_registry_builds_the_openai_embedder(stub: OpenAIStub) -> None:
    embedder = create_embedder("openai", make_settings(stub.url), {"dimensions": 128})
    try:
        assert isinstance(embedder, OpenAIEmbedder)
        assert embedder.name == "openai"
        assert embedder.embed_texts(["via registry"]).shape == (1, 128)
    finally:
        embedder.close()
