"""A local server that speaks OpenAI's embeddings protocol, for tests that need neither network nor key.

``with OpenAIStub() as stub:`` serves ``POST {stub.url}/embeddings`` on 127.0.0.1 (an ephemeral port)
from a background thread. It validates requests as OpenAI does, answers errors in OpenAI's JSON shape,
returns deterministic unit vectors derived from the words of each text (texts sharing words are
closer), records every request, and can be told to fail the next requests (``fail_next``).

Run ``python tests/openai_stub.py`` to serve it by hand (key ``sk-stub-key``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_KEY = "sk-stub-key"
OPENAI_MODELS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
FIXED_SIZE_MODELS = frozenset({"text-embedding-ada-002"})
ALLOWED_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})
MAX_INPUTS = 2048
WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=4096)
def _word_vector(word: str, size: int) -> npt.NDArray[np.float64]:
    seed = int.from_bytes(hashlib.sha256(f"{size}:{word}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(size)
    vector.flags.writeable = False  # shared through the cache
    return vector


def stub_vector(text: str, size: int, dimensions: int | None = None) -> npt.NDArray[np.float64]:
    """The unit vector the stub returns for ``text`` from a model of ``size`` dimensions.

    A sum of one random vector per word plus one for the whole text, so that texts sharing words are
    closer. ``dimensions`` shortens it as OpenAI does: keep the first ``dimensions`` values, renormalise.
    """
    vector = 0.5 * _word_vector("\x00" + text, size)
    for word in WORD.findall(text.lower()):
        vector = vector + _word_vector(word, size)
    vector = vector[: dimensions or size]
    return vector / np.linalg.norm(vector)


@dataclass(frozen=True)
class Failure:
    status: int
    message: str
    retry_after: str | None = None
    stall: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The decoded JSON body, or None when it was not JSON."""


class StubError(Exception):
    def __init__(
        self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


@dataclass
class OpenAIStub:
    """The server. ``api_key=None`` accepts requests without a key, like many local servers."""

    api_key: str | None = DEFAULT_KEY
    models: Mapping[str, int] = field(default_factory=lambda: dict(OPENAI_MODELS))
    shuffle: bool = True
    """Return ``data`` in reverse order of ``index``, as clients must sort by index."""
    override_dimensions: int | None = None
    """Misbehave: return vectors of this size whatever was asked."""
    requests: list[RecordedRequest] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: deque[Failure] = deque()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to configure as ``OPENAI_BASE_URL`` (ends in ``/v1``)."""
        if self._server is None:
            raise RuntimeError("the stub is not running: use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        retry_after: float | str | None = None,
        message: str | None = None,
        stall: float = 0.0,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` (after ``stall`` seconds, to cause timeouts)."""
        if message is None:
            message = {429: "Rate limit reached for requests"}.get(
                status, "The server had an error while processing your request. Sorry about that!"
            )
        after = None if retry_after is None else str(retry_after)
        with self._lock:
            self._failures.extend(Failure(status, message, after, stall) for _ in range(count))

    def expected(
        self, text: str, model: str = "text-embedding-3-small", dimensions: int | None = None
    ) -> Any:
        """The vector the stub returns for ``text``, as float32 (what a client should end up with)."""
        return stub_vector(text, self.models[model], dimensions).astype(np.float32)

    def start(self) -> OpenAIStub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- request handling (called from the server's threads) --

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            self._closing.wait(failure.stall)
            kind = "requests" if failure.status == 429 else "server_error"
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            code = "rate_limit_exceeded" if failure.status == 429 else None
            return failure.status, headers, _error_body(failure.message, kind, code)
        try:
            return 200, {}, self._embeddings(request)
        except StubError as error:
            return error.status, {}, _error_body(error.message, error.kind, error.code)

    def _embeddings(self, request: RecordedRequest) -> dict[str, Any]:
        if request.method != "POST" or request.path != "/v1/embeddings":
            raise StubError(404, f"Invalid URL ({request.method} {request.path})")
        self._authorize(request.headers.get("authorization"))
        body = request.body
        if not isinstance(body, dict):
            raise StubError(400, "We could not parse the JSON body of your request.")
        unknown = sorted(set(body) - ALLOWED_FIELDS)
        if unknown:
            raise StubError(400, f"Unrecognized request argument supplied: {unknown[0]}")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise StubError(400, "you must provide a model parameter")
        if model not in self.models:
            raise StubError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        texts = _texts(body.get("input"))
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise StubError(400, f"'{encoding}' is not one of ['float', 'base64'] - 'encoding_format'")
        dimensions = self._dimensions(model, body.get("dimensions"))
        size = self.override_dimensions or self.models[model]
        if self.override_dimensions is not None:
            dimensions = None
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": _encode(stub_vector(text, size, dimensions), encoding),
            }
            for index, text in enumerate(texts)
        ]
        if self.shuffle:
            data.reverse()
        tokens = sum(max(1, len(WORD.findall(text))) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _authorize(self, header: str | None) -> None:
        if self.api_key is None:
            return
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            raise StubError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        given = header[7:].strip()
        if given != self.api_key:
            masked = f"{given[:3]}{'*' * max(0, len(given) - 7)}{given[-4:]}" if len(given) > 7 else "***"
            raise StubError(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _dimensions(self, model: str, value: Any) -> int | None:
        if value is None:
            return None
        if model in FIXED_SIZE_MODELS:
            raise StubError(400, "This model does not support specifying dimensions.", code=None)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= self.models[model]:
            raise StubError(
                400, f"Invalid value for 'dimensions' = {value}. Must be between 1 and {self.models[model]}."
            )
        return value


def _texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if (
        not isinstance(texts, list)
        or not 1 <= len(texts) <= MAX_INPUTS
        or not all(isinstance(text, str) and text for text in texts)
    ):
        raise StubError(
            400,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        )
    return texts


def _encode(vector: npt.NDArray[np.float64], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(value) for value in vector]


def _error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server_version = "openai-stub/1"

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest(self.command, self.path, headers, body)
        status, extra, payload = self.server.stub.handle(request)  # type: ignore[attr-defined]
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


if __name__ == "__main__":
    with OpenAIStub() as stub:
        print(f"OPENAI_BASE_URL={stub.url} OPENAI_API_KEY={DEFAULT_KEY}  (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
