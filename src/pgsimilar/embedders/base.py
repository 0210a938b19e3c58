"""The embedder interface: a model that turns texts (and, for multimodal models, images) into vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..config import Settings
from ..errors import UnsupportedModality

Vectors = npt.NDArray[np.float32]
"""A 2-d float32 array, one row per input."""


class Modality(StrEnum):
    """A kind of input an embedder understands."""

    TEXT = "text"
    IMAGE = "image"


class Embedder(ABC):
    """A model that embeds inputs into vectors of ``dimensions`` floats.

    Subclasses declare their properties and implement ``embed_texts`` (and ``embed_images`` when they
    list :attr:`Modality.IMAGE`). They are built through :func:`pgsimilar.embedders.get_embedder`
    with the collection's stored options, load their model lazily on first use, and must be safe
    to call from several threads.
    """

    name: ClassVar[str]
    """The registry name stored with each collection (``minilm``, ``openai``, ...)."""
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.TEXT})
    batch_size: ClassVar[int] = 64
    normalized: ClassVar[bool] = False
    """True when every vector has unit length (then cosine, inner product and L2 rank alike)."""

    def __init__(self, settings: Settings, options: Mapping[str, Any]) -> None:
        self.settings = settings

    @property
    @abstractmethod
    def dimensions(self) -> int:
        """Length of every vector this embedder returns."""

    @property
    def model_id(self) -> str:
        """The model this embedder runs, as users know it."""
        return self.name

    def options(self) -> dict[str, Any]:
        """The options to store with a collection so that the same embedder is built again for it."""
        return {}

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        """One vector per text, as a float32 array of shape (len(texts), dimensions)."""
        raise UnsupportedModality(f"the {self.name!r} embedder does not embed text")

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        """One vector per image, in the same space as the texts (multimodal embedders only).

        Images arrive decoded, checked and in RGB mode (see :mod:`pgsimilar.media`); an embedder
        resizes and normalises them as its model needs.
        """
        raise UnsupportedModality(f"the {self.name!r} embedder does not embed images")

    def loaded(self) -> bool:
        """Whether the model is in memory (embedders without a local model are always ready)."""
        return True

    def supports(self, modality: Modality) -> bool:
        """Whether this embedder can embed inputs of ``modality``."""
        return modality in self.modalities
