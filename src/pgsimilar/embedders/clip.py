"""``clip``: a CLIP model (OpenAI's ViT-B/32 by default) run on the CPU with Hugging Face transformers.

Texts and images land in one space: a text prompt finds pictures, and a picture finds pictures.

Where the model comes from:

- ``PGSIMILAR_CLIP_PATH`` (``settings.clip_path``): a local directory holding a CLIP model in Hugging Face
  format (``config.json``, ``model.safetensors``, tokenizer files, ``preprocessor_config.json``), e.g.
  made with ``hf download openai/clip-vit-base-patch32 --local-dir DIR``. Only local files are read.
- otherwise ``PGSIMILAR_CLIP_MODEL`` (``settings.clip_model``): a Hub id, downloaded into the Hugging Face
  cache on first use.

A collection stores the model it was created with (``{"model": <hub id or absolute path>}``) and always
reopens with it. A collection stored with the Hub id ``PGSIMILAR_CLIP_MODEL`` names loads from
``PGSIMILAR_CLIP_PATH`` when that is set: the directory is taken to be a local copy of that model, so a
machine without Hub access can serve it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image

from ..config import Settings
from ..errors import (
    ConfigurationError,
    EmbedderError,
    EmbedderUnavailable,
    InvalidInput,
    MissingDependency,
    PgsimilarError,
)
from .base import Embedder, Modality, Vectors

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# Projection sizes of well-known Hub models, so that ``dimensions`` needs no download for them. Other
# ids read their config.json (a few kB) from the Hub or its cache.
KNOWN_DIMENSIONS: dict[str, int] = {
    "openai/clip-vit-base-patch32": 512,
    "openai/clip-vit-base-patch16": 512,
    "openai/clip-vit-large-patch14": 768,
    "openai/clip-vit-large-patch14-336": 768,
}
# CLIP resizes the shortest side and crops the centre square, so an image longer than this ratio
# loses nothing when cropped to it first; without the crop a 1 x 50,000 pixel strip would be resized
# to 224 x 11 million pixels.
MAX_ASPECT_RATIO = 8
MODEL_FILES_HINT = (
    "a CLIP model in Hugging Face format: config.json, model.safetensors (or pytorch_model.bin), "
    "the tokenizer files and preprocessor_config.json"
)


class ClipEmbedder(Embedder):
    """Texts and images into one space with a CLIP model; unit-length float32 vectors.

    Options (stored with the collection): ``model``, a Hub id or an absolute directory path, defaulting
    to ``clip_path`` when set, else ``clip_model``. Construction does no I/O. ``dimensions`` is the
    model's ``projection_dim``: a table for well-known Hub ids, else read from the model's config.json
    (no weights). The weights load on the first embedding, once per process for each model, and are
    shared by every embedder and thread.
    """

    name: ClassVar[str] = "clip"
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.TEXT, Modality.IMAGE})
    batch_size: ClassVar[int] = 32
    normalized: ClassVar[bool] = True

    def __init__(self, settings: Settings, options: Mapping[str, Any]) -> None:
        super().__init__(settings, options)
        self._model = _model_option(options.get("model"), settings)
        self._location = self._model
        self._local = _is_path(self._model)
        if not self._local and settings.clip_path is not None and self._model == settings.clip_model.strip():
            # A collection made with the Hub id, on a machine that keeps a copy of that model in a directory.
            self._location, self._local = _absolute(str(settings.clip_path)), True
        self._dimensions: int | None = None
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        with self._lock:
            if self._dimensions is None:
                self._dimensions = self._read_dimensions()
            return self._dimensions

    @property
    def model_id(self) -> str:
        return self._model

    def options(self) -> dict[str, Any]:
        return {"model": self._model}

    def loaded(self) -> bool:
        return _cached(self._location) is not None

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        if isinstance(texts, str):
            raise InvalidInput("embed_texts takes a list of texts, not one string")
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInput(f"text {position} is a {type(text).__name__}, not a string")
        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        clip = self._clip()
        return self._in_batches(list(texts), clip.text_vectors, "texts")

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        for position, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise InvalidInput(f"image {position} is a {type(image).__name__}, not a PIL image")
        if not images:
            return np.empty((0, self.dimensions), dtype=np.float32)
        clip = self._clip()
        return self._in_batches(list(images), clip.image_vectors, "images")

    def _in_batches(self, items: list[Any], embed: Callable[[list[Any]], Vectors], what: str) -> Vectors:
        size = self.batch_size
        try:
            return np.concatenate(
                [embed(items[start : start + size]) for start in range(0, len(items), size)]
            )
        except PgsimilarError:
            raise
        except Exception as exc:
            raise EmbedderError(
                f"CLIP model {self._model} failed to embed {len(items)} {what}: {exc}"
            ) from exc

    def _read_dimensions(self) -> int:
        loaded = _cached(self._location)
        if loaded is not None:
            return loaded.dimensions
        known = KNOWN_DIMENSIONS.get(self._model)
        if known is not None and not self._local:
            return known
        found = _config_dimensions(self._location, self._local, self._unavailable_hint())
        if known is not None and found != known:
            raise ConfigurationError(
                f"PGSIMILAR_CLIP_PATH {self._location} holds a model of {found} dimensions, "
                f"not a copy of {self._model} ({known} dimensions)"
            )
        return found

    def _clip(self) -> _LoadedClip:
        clip = _load_once(self._location, self._local, self._unavailable_hint())
        expected = self.dimensions  # free once loaded; a table value is checked against the real model
        if clip.dimensions != expected:
            raise ConfigurationError(
                f"the CLIP model at {self._location} makes {clip.dimensions}-dimensional vectors, "
                f"not {expected} like {self._model}"
            )
        return clip

    def _unavailable_hint(self) -> str:
        if self._model == self.settings.clip_model.strip():
            return "set PGSIMILAR_CLIP_PATH to a local directory holding its weights"
        return (
            f"set PGSIMILAR_CLIP_MODEL={self._model} and PGSIMILAR_CLIP_PATH to a local directory "
            "holding its weights"
        )


class _LoadedClip:
    """One model in memory with its tokenizer and image processor."""

    def __init__(self, model: Any, tokenizer: Any, image_processor: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.dimensions = int(model.config.projection_dim)
        self.max_length = int(model.config.text_config.max_position_embeddings)
        self.crops_centre = bool(getattr(image_processor, "do_center_crop", False))
        # Fast tokenizers change their padding/truncation state on every call and fail
        # ("Already borrowed") when two threads call them at once; the model itself is thread-safe.
        self._tokenizer_lock = threading.Lock()

    def text_vectors(self, texts: list[str]) -> Vectors:
        import torch

        with self._tokenizer_lock:
            # Padding to the full context (as OpenAI's CLIP does) makes a text's vector independent of
            # the other texts in its batch.
            tokens = self.tokenizer(
                texts, padding="max_length", truncation=True, max_length=self.max_length, return_tensors="pt"
            )
        with torch.inference_mode():
            output = self.model.get_text_features(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
            )
        return _unit_rows(output)

    def image_vectors(self, images: list[Image.Image]) -> Vectors:
        import torch

        prepared = [self.prepare(image) for image in images]
        pixels = self.image_processor(images=prepared, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            output = self.model.get_image_features(pixel_values=pixels)
        return _unit_rows(output)

    def prepare(self, image: Image.Image) -> Image.Image:
        """``image`` in RGB, with an extreme aspect ratio cut down where the centre crop would cut it."""
        if image.mode != "RGB":
            if "transparency" in image.info:
                image = image.convert("RGBA")  # PIL warns when a palette with transparency goes to RGB
            image = image.convert("RGB")
        width, height = image.size
        short, long = min(width, height), max(width, height)
        if not self.crops_centre or long <= short * MAX_ASPECT_RATIO:
            return image
        keep = short * MAX_ASPECT_RATIO
        start = (long - keep) // 2
        box = (start, 0, start + keep, height) if width > height else (0, start, width, start + keep)
        return image.crop(box)


def _unit_rows(output: Any) -> Vectors:
    import torch

    # transformers 4 returns the projected features; transformers 5 returns them as ``pooler_output``.
    features: torch.Tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    unit = torch.nn.functional.normalize(features.float(), dim=-1)
    return np.ascontiguousarray(unit.cpu().numpy(), dtype=np.float32)


_cache: dict[str, _LoadedClip] = {}
_cache_lock = threading.Lock()
_load_locks: dict[str, threading.Lock] = {}


def _cached(location: str) -> _LoadedClip | None:
    with _cache_lock:
        return _cache.get(location)


def _load_once(location: str, local: bool, hint: str) -> _LoadedClip:
    """The model at ``location``, loaded by the first caller; others wait for that load, not their own."""
    with _cache_lock:
        found = _cache.get(location)
        if found is not None:
            return found
        load_lock = _load_locks.setdefault(location, threading.Lock())
    with load_lock:
        found = _cached(location)
        if found is None:  # a failed load is not cached: the next call tries again
            found = _load(location, local, hint)
            with _cache_lock:
                _cache[location] = found
        return found


def _load(location: str, local: bool, hint: str) -> _LoadedClip:
    try:
        import torch
        from transformers import CLIPModel, CLIPProcessor
        from transformers.utils import logging as transformers_logging
    except ImportError as exc:  # pragma: no cover - both are dependencies of pgsimilar
        raise MissingDependency("the clip embedder needs: pip install torch transformers") from exc
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if local:
        _check_directory(location)
    logger.info("loading CLIP model %s", location)
    try:
        # Typed as Any: transformers' decorators hide the signatures of ``to`` and ``eval`` from mypy.
        model: Any = CLIPModel.from_pretrained(location, local_files_only=local)
        processor = CLIPProcessor.from_pretrained(location, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise _load_error(location, local, hint, exc) from exc
    # Some checkpoints are float16, which CPUs run slowly or not at all.
    model = model.to(torch.float32).eval()
    return _LoadedClip(model, processor.tokenizer, processor.image_processor)


def _config_dimensions(location: str, local: bool, hint: str) -> int:
    """``projection_dim`` from the model's config.json alone (no weights are read)."""
    try:
        from transformers import CLIPConfig
    except ImportError as exc:  # pragma: no cover - a dependency of pgsimilar
        raise MissingDependency("the clip embedder needs: pip install torch transformers") from exc
    if local:
        # Without config.json transformers silently returns a default config (512 dimensions).
        _check_directory(location)
    try:
        config = CLIPConfig.from_pretrained(location, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise _load_error(location, local, hint, exc) from exc
    if not isinstance(config.projection_dim, int):
        raise ConfigurationError(
            f"the config.json of {location} has no projection_dim: it is not {MODEL_FILES_HINT}"
        )
    return config.projection_dim


def _check_directory(location: str) -> None:
    path = Path(location)
    if not path.is_dir():
        raise ConfigurationError(
            f"the CLIP model directory {location} does not exist; set PGSIMILAR_CLIP_PATH to a directory "
            f"holding {MODEL_FILES_HINT}"
        )
    if not (path / "config.json").is_file():
        raise ConfigurationError(
            f"the CLIP model directory {location} has no config.json; PGSIMILAR_CLIP_PATH must hold "
            f"{MODEL_FILES_HINT}"
        )


def _load_error(location: str, local: bool, hint: str, exc: Exception) -> PgsimilarError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if local:
        return ConfigurationError(
            f"cannot load the CLIP model in {location} ({reason}); the directory must hold {MODEL_FILES_HINT}"
        )
    return EmbedderUnavailable(
        f"cannot load the CLIP model {location} from the Hugging Face Hub or its cache ({reason}); "
        f"where the Hub cannot be reached, {hint}"
    )


def _model_option(value: Any, settings: Settings) -> str:
    if value is None:
        if settings.clip_path is not None:
            return _absolute(str(settings.clip_path))
        value = settings.clip_model
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"clip model must be a Hub id or a directory path, not {value!r}")
    value = value.strip()
    return _absolute(value) if _is_path(value) else value


def _is_path(model: str) -> bool:
    """Whether ``model`` names a directory: Hub ids are never absolute and never start with a dot."""
    return os.path.isabs(os.path.expanduser(model)) or model.startswith(".") or "\\" in model


def _absolute(path: str) -> str:
    # Stored with the collection, so it must not depend on the working directory of a later process.
    return os.path.abspath(os.path.expanduser(path))
