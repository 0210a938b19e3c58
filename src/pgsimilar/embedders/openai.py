"""``openai``: any OpenAI-compatible ``/embeddings`` endpoint: OpenAI itself, or a local server that
speaks the same protocol. The base URL and key come from ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import numpy as np

from ..config import Settings
from ..errors import ConfigurationError, EmbedderError, EmbedderUnavailable, InvalidInput
from .base import Embedder, Vectors

OPENAI_HOST = "api.openai.com"
KNOWN_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# OpenAI rejects a ``dimensions`` parameter for models whose size is fixed.
FIXED_SIZE_MODELS = frozenset({"text-embedding-ada-002"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A server asking us to wait longer than this gets our own backoff instead of stalling a worker.
MAX_RETRY_AFTER = 60.0


class OpenAIEmbedder(Embedder):
    """Embeds texts with ``model`` through ``{base_url}/embeddings``, in batches of ``openai_batch_size``.

    Options (stored with the collection): ``model``, ``dimensions`` and ``base_url``; each falls back
    to the ``openai_*`` settings. The API key is never stored: it always comes from the settings.
    Construction does no network I/O; one HTTP client per embedder is created on first use.
    """

    name: ClassVar[str] = "openai"
    batch_size: ClassVar[int] = 256
    retry_base_delay: ClassVar[float] = 0.5
    """Seconds before the first retry, doubled at each further one (with jitter)."""
    retry_max_delay: ClassVar[float] = 30.0

    def __init__(self, settings: Settings, options: Mapping[str, Any]) -> None:
        super().__init__(settings, options)
        self._model = _text_option(options, "model", settings.openai_model)
        self._base_url = _text_option(options, "base_url", settings.openai_base_url).rstrip("/")
        self._host = _check_base_url(self._base_url)
        explicit = options.get("dimensions")
        if explicit is None:
            explicit = settings.openai_dimensions
        self._dimensions = self._resolve_dimensions(explicit)
        # Only OpenAI's fixed-size models refuse the parameter; other servers decide for themselves.
        self._send_dimensions = explicit is not None and self._model not in FIXED_SIZE_MODELS
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _resolve_dimensions(self, explicit: Any) -> int:
        known = KNOWN_DIMENSIONS.get(self._model)
        if explicit is None:
            if known is None:
                raise InvalidInput(
                    f"the openai embedder does not know how many dimensions {self._model!r} returns: "
                    "pass dimensions (an integer from 1 to 16000)"
                )
            return known
        if not isinstance(explicit, int) or isinstance(explicit, bool) or not 1 <= explicit <= 16_000:
            raise InvalidInput(f"openai dimensions must be an integer from 1 to 16000, not {explicit!r}")
        if self._model in FIXED_SIZE_MODELS and explicit != known:
            raise InvalidInput(f"{self._model} always returns {known} dimensions; leave dimensions unset")
        if known is not None and explicit > known:
            raise InvalidInput(f"{self._model} returns at most {known} dimensions, not {explicit}")
        return explicit

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def model_id(self) -> str:
        return self._model

    def options(self) -> dict[str, Any]:
        return {"model": self._model, "dimensions": self._dimensions, "base_url": self._base_url}

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        if isinstance(texts, str):
            raise InvalidInput("embed_texts takes a list of texts, not one string")
        for position, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise InvalidInput(f"text {position} is empty or not a string; OpenAI embeds non-empty text")
        if not texts:
            return np.empty((0, self._dimensions), dtype=np.float32)
        headers = self._auth_headers()
        size = self.settings.openai_batch_size
        batches = [list(texts[start : start + size]) for start in range(0, len(texts), size)]
        return np.concatenate([self._embed_batch(batch, headers) for batch in batches])

    def close(self) -> None:
        """Close the HTTP client (a later call opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _auth_headers(self) -> dict[str, str]:
        key = self._api_key()
        if key:
            return {"Authorization": f"Bearer {key}"}
        if self._host == OPENAI_HOST:
            raise ConfigurationError(
                "set OPENAI_API_KEY (or PGSIMILAR_OPENAI_API_KEY) to use OpenAI's embeddings, or point "
                "OPENAI_BASE_URL at an OpenAI-compatible server that needs no key"
            )
        return {}  # local OpenAI-compatible servers often run without a key

    def _api_key(self) -> str:
        secret = self.settings.openai_api_key
        return secret.get_secret_value() if secret is not None else ""

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self.settings.openai_timeout))
            return self._client

    def _embed_batch(self, batch: list[str], headers: dict[str, str]) -> Vectors:
        body: dict[str, Any] = {"model": self._model, "input": batch, "encoding_format": "float"}
        if self._send_dimensions:
            body["dimensions"] = self._dimensions
        return self._parse(self._post(body, headers), len(batch))

    def _post(self, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """POST with retries on rate limits, server errors and network failures; the decoded JSON."""
        url = f"{self._base_url}/embeddings"
        attempts = self.settings.openai_max_retries + 1
        problem = ""
        for attempt in range(attempts):
            wait: float | None = None
            try:
                response = self._http().post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"could not reach {url}: {type(exc).__name__} {exc}".rstrip()
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise EmbedderError(f"{url} answered with invalid JSON: {exc}") from exc
                problem = f"{url} answered HTTP {response.status_code}: {self._server_message(response)}"
                if response.status_code not in RETRY_STATUSES:
                    raise EmbedderError(f"embedding with {self._model} failed: {problem}")
                wait = _retry_after(response.headers)
            if attempt + 1 < attempts:
                time.sleep(wait if wait is not None else self._backoff(attempt))
        raise EmbedderUnavailable(f"embedding with {self._model} failed after {attempts} attempts: {problem}")

    def _backoff(self, attempt: int) -> float:
        delay = min(self.retry_max_delay, self.retry_base_delay * 2.0**attempt)
        return delay * random.uniform(0.5, 1.0)  # jitter spreads out clients that failed together

    def _server_message(self, response: httpx.Response) -> str:
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text[:500] or response.reason_phrase
        key = self._api_key()
        return message.replace(key, "***") if key else message

    def _parse(self, payload: Any, expected: int) -> Vectors:
        try:
            items = sorted(payload["data"], key=lambda item: int(item["index"]))
            indexes = [int(item["index"]) for item in items]
            rows = [item["embedding"] for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(f"unexpected response from {self._base_url}/embeddings: {exc!r}") from exc
        if indexes != list(range(expected)):
            raise EmbedderError(f"{self._model} returned {len(rows)} vectors for {expected} texts")
        for row in rows:
            if not isinstance(row, list):
                raise EmbedderError(f"{self._model} returned an embedding that is not a list of floats")
            if len(row) != self._dimensions:
                raise EmbedderError(
                    f"{self._model} returned vectors of {len(row)} dimensions, expected {self._dimensions}"
                )
        try:
            return np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbedderError(f"{self._model} returned an embedding that is not numbers: {exc}") from exc


def _text_option(options: Mapping[str, Any], key: str, default: str) -> str:
    value = options.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"openai {key} must be a non-empty string, not {value!r}")
    return value.strip()


def _check_base_url(base_url: str) -> str:
    """The host of ``base_url``, which must be an absolute http(s) URL."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"OPENAI_BASE_URL {base_url!r} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError("OPENAI_BASE_URL must be an http(s) URL such as https://api.openai.com/v1")
    return url.host


def _retry_after(headers: httpx.Headers) -> float | None:
    """The wait the server asked for, in seconds (``retry-after-ms`` or ``Retry-After``), if usable."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers[name]) * scale
        except (KeyError, ValueError):
            continue  # absent, or an HTTP date: fall back to our own backoff
        if 0 <= seconds <= MAX_RETRY_AFTER:
            return seconds
    return None
