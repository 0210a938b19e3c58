"""``none``: bring your own vectors. The collection stores and searches vectors you compute elsewhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..config import Settings
from ..errors import InvalidInput, UnsupportedModality
from .base import Embedder, Modality, Vectors


class NoEmbedder(Embedder):
    """Embeds nothing: records and queries must carry a vector of ``dimensions`` floats."""

    name: ClassVar[str] = "none"
    modalities: ClassVar[frozenset[Modality]] = frozenset()

    def __init__(self, settings: Settings, options: Mapping[str, Any]) -> None:
        super().__init__(settings, options)
        dimensions = options.get("dimensions")
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 16_000:
            raise InvalidInput(
                "the 'none' embedder (bring your own vectors) needs dimensions: an integer from 1 to 16000"
            )
        self._dimensions = dimensions

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def options(self) -> dict[str, Any]:
        return {"dimensions": self._dimensions}

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        raise UnsupportedModality(
            "this collection stores your own vectors (embedder 'none'): give each record and query a vector"
        )
