"""The ``clip`` embedder, run for real through transformers on a small randomly initialised CLIP model.

No CLIP weights can be obtained on these machines, so the model here is a reduced ``CLIPConfig`` saved
next to the real ViT-B/32 tokenizer and preprocessor files: loading, tokenising, truncating,
preprocessing, batching and normalising all run as they do for users. Only the weights are random,
so these tests check mechanics, not meaning; ``test_real_weights_*`` checks meaning when
``PGSIMILAR_CLIP_PATH`` points at real weights.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from pgsimilar import Client, Settings
from pgsimilar.embedders.base import Modality
from pgsimilar.embedders.clip import ClipEmbedder
from pgsimilar.embedders.registry import create_embedder
from pgsimilar.errors import ConfigurationError, EmbedderError, EmbedderUnavailable, InvalidInput

from .fashion_mnist import fashion_test_set

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TOKENIZER_DIR = SHARED / "models" / "clip-vit-base-patch32-tokenizer"
TOKENIZER_FILES = (
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
PROJECTION_DIM = 16
IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP model in Hugging Face format, with the real tokenizer and preprocessing."""
    if not TOKENIZER_DIR.is_dir():
        pytest.skip(f"the CLIP tokenizer files are missing: {TOKENIZER_DIR}")
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    real = json.loads((TOKENIZER_DIR / "config.json").read_text())
    # Keep the real vocabulary, context length and special token ids; shrink everything else.
    small = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "projection_dim": PROJECTION_DIM,
    }
    config = CLIPConfig(
        text_config={**real["text_config"], **small},
        vision_config={**real["vision_config"], **small, "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=PROJECTION_DIM,
    )
    text_config = config.text_config
    assert isinstance(text_config, CLIPTextConfig)
    assert (text_config.vocab_size, text_config.max_position_embeddings) == (49_408, 77)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(config).save_pretrained(path)
    for name in TOKENIZER_FILES:
        shutil.copy(TOKENIZER_DIR / name, path / name)
    preprocessing = json.loads((TOKENIZER_DIR / "preprocessor_config.json").read_text())
    preprocessing["size"] = {"shortest_edge": IMAGE_SIZE}
    preprocessing["crop_size"] = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    (path / "preprocessor_config.json").write_text(json.dumps(preprocessing))
    return path


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> ClipEmbedder:
    return ClipEmbedder(Settings(clip_path=model_dir), {})


@pytest.fixture
def hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No request reaches the Hugging Face Hub (huggingface_hub reads the variable once, at import)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


class SmallBatches(ClipEmbedder):
    batch_size: ClassVar[int] = 3


def noise(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(axis=2) if channels == 1 else pixels, mode)


def assert_unit_rows(vectors: npt.NDArray[np.float32], rows: int, dimensions: int) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (rows, dimensions)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_properties_and_dimensions_are_known_without_loading_weights(model_dir: Path, tmp_path: Path) -> None:
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    shutil.copy(model_dir / "config.json", config_only / "config.json")
    clip = ClipEmbedder(Settings(clip_path=config_only), {})
    assert clip.dimensions == PROJECTION_DIM  # read from config.json: there are no weights to load
    assert not clip.loaded()
    assert clip.model_id == str(config_only)
    assert clip.options() == {"model": str(config_only)}
    assert clip.modalities == {Modality.TEXT, Modality.IMAGE}
    assert clip.normalized
    assert clip.batch_size == 32
    with pytest.raises(ConfigurationError, match=r"model\.safetensors"):
        clip.embed_texts(["no weights here"])
    assert not clip.loaded()


def test_default_hub_model_needs_no_download_for_its_dimensions(
    hub_offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSIMILAR_CLIP_MODEL", raising=False)
    clip = ClipEmbedder(Settings(clip_path=None), {})
    assert clip.model_id == "openai/clip-vit-base-patch32"
    assert clip.options() == {"model": "openai/clip-vit-base-patch32"}
    assert clip.dimensions == 512
    assert not clip.loaded()


def test_unreachable_hub_model_says_to_set_clip_path(hub_offline: None) -> None:
    clip = ClipEmbedder(Settings(clip_path=None, clip_model="pgsimilar-tests/no-such-clip"), {})
    with pytest.raises(EmbedderUnavailable, match="set PGSIMILAR_CLIP_PATH to a local directory"):
        _ = clip.dimensions
    with pytest.raises(EmbedderUnavailable, match="PGSIMILAR_CLIP_PATH"):
        clip.embed_texts(["a photo of a cat"])
    # A collection made with another Hub id needs both settings to find a local copy of its model.
    stored = ClipEmbedder(Settings(clip_path=None), {"model": "pgsimilar-tests/other-clip"})
    with pytest.raises(EmbedderUnavailable, match="PGSIMILAR_CLIP_MODEL=pgsimilar-tests/other-clip and"):
        stored.embed_texts(["a photo of a cat"])


def test_missing_or_empty_clip_path_is_a_configuration_error(tmp_path: Path, hub_offline: None) -> None:
    missing = ClipEmbedder(Settings(clip_path=tmp_path / "nowhere"), {})
    with pytest.raises(ConfigurationError, match=r"nowhere does not exist; set PGSIMILAR_CLIP_PATH"):
        _ = missing.dimensions
    with pytest.raises(ConfigurationError, match="does not exist"):
        missing.embed_texts(["x"])
    # transformers would silently return a default config (512 dimensions) for an empty directory.
    empty = ClipEmbedder(Settings(clip_path=tmp_path), {})
    with pytest.raises(ConfigurationError, match=r"has no config\.json"):
        _ = empty.dimensions


def test_text_vectors_are_unit_float32_and_deterministic(embedder: ClipEmbedder) -> None:
    texts = ["a photo of a cat", "A PHOTO OF A CAT", "Espresso Machine", "", "naïve café ☕ 東京"]
    first = embedder.embed_texts(texts)
    assert_unit_rows(first, len(texts), PROJECTION_DIM)
    np.testing.assert_array_equal(first, embedder.embed_texts(texts))
    np.testing.assert_allclose(first[0], first[1], atol=1e-6)  # CLIP's tokenizer lower-cases
    assert not np.allclose(first[0], first[2], atol=1e-3)
    assert embedder.loaded()


def test_batches_give_the_same_vectors_as_one_at_a_time(model_dir: Path) -> None:
    clip = SmallBatches(Settings(clip_path=model_dir), {})
    texts = [f"record number {i} " + "word " * (i * 7) for i in range(7)]
    batched = clip.embed_texts(texts)
    single = np.concatenate([clip.embed_texts([text]) for text in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    images = [noise(20 + 9 * i, 30 + 5 * i, seed=i) for i in range(7)]
    batched = clip.embed_images(images)
    single = np.concatenate([clip.embed_images([image]) for image in images])
    assert_unit_rows(batched, len(images), PROJECTION_DIM)
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_long_text_is_truncated_to_the_context(embedder: ClipEmbedder) -> None:
    long = "postgres vector search " * 400
    vectors = embedder.embed_texts([long, long + " but a different ending", "postgres vector search"])
    assert_unit_rows(vectors, 3, PROJECTION_DIM)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # past 77 tokens nothing counts
    assert not np.allclose(vectors[0], vectors[2], atol=1e-3)


def test_images_of_any_size_and_mode(embedder: ClipEmbedder) -> None:
    grey = noise(28, 28, seed=1, mode="L")
    palette = noise(40, 30, seed=2).convert("P")
    palette.info["transparency"] = 0
    images = [
        noise(64, 48, seed=3),
        grey,
        noise(50, 70, seed=4, mode="RGBA"),
        palette,
        noise(1, 1, seed=5),
        noise(3, 5000, seed=6),  # an extreme strip: cropped before resizing, not blown up
        noise(900, 600, seed=7),
    ]
    vectors = embedder.embed_images(images)
    assert_unit_rows(vectors, len(images), PROJECTION_DIM)
    np.testing.assert_allclose(vectors[1], embedder.embed_images([grey.convert("RGB")])[0], atol=1e-6)
    assert not np.allclose(vectors[0], vectors[6], atol=1e-3)


def test_fashion_mnist_images_embed(embedder: ClipEmbedder) -> None:
    images = read_fashion_mnist(5)[0]
    assert_unit_rows(embedder.embed_images(images), 5, PROJECTION_DIM)


def test_inputs_are_checked(embedder: ClipEmbedder) -> None:
    with pytest.raises(InvalidInput, match="not one string"):
        embedder.embed_texts("a photo of a cat")
    with pytest.raises(InvalidInput, match="text 1 is a int"):
        embedder.embed_texts(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="image 0 is a bytes"):
        embedder.embed_images([b"\x89PNG"])  # type: ignore[list-item]
    assert embedder.embed_texts([]).shape == (0, PROJECTION_DIM)
    assert embedder.embed_images([]).shape == (0, PROJECTION_DIM)
    with pytest.raises(InvalidInput, match="Hub id or a directory"):
        ClipEmbedder(Settings(), {"model": ""})
    assert issubclass(EmbedderUnavailable, EmbedderError)


def test_threads_share_one_model_and_agree(embedder: ClipEmbedder) -> None:
    texts = [f"text {i} about vectors" for i in range(6)]
    expected = embedder.embed_texts(texts)
    results: list[npt.NDArray[np.float32]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(embedder.embed_texts(texts))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 12
    for vectors in results:
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_registry_builds_it_and_stored_options_rebuild_it(embedder: ClipEmbedder, model_dir: Path) -> None:
    built = create_embedder("clip", Settings(clip_path=model_dir), {})
    assert isinstance(built, ClipEmbedder)
    assert built.options() == {"model": str(model_dir)}
    # A later process without PGSIMILAR_CLIP_PATH rebuilds it from the collection's stored options.
    again = create_embedder("clip", Settings(clip_path=None), built.options())
    assert again.model_id == str(model_dir)
    texts = ["more like this"]
    np.testing.assert_array_equal(again.embed_texts(texts), embedder.embed_texts(texts))


def test_stored_default_hub_id_loads_from_clip_path(
    embedder: ClipEmbedder, model_dir: Path, hub_offline: None
) -> None:
    # A collection created with the Hub id, on a machine whose copy of that model is in a directory.
    hub_id = "pgsimilar-tests/tiny-clip"
    clip = ClipEmbedder(Settings(clip_path=model_dir, clip_model=hub_id), {"model": hub_id})
    assert clip.model_id == hub_id
    assert clip.options() == {"model": hub_id}
    assert clip.dimensions == PROJECTION_DIM
    np.testing.assert_array_equal(clip.embed_texts(["a cat"]), embedder.embed_texts(["a cat"]))


@pytest.fixture
def clip_client(client: Client, model_dir: Path) -> Iterator[Client]:
    settings = Settings(
        data_dir=client.settings.data_dir, database_url=client.settings.database_url, clip_path=model_dir
    )
    with Client(settings=settings) as clip_client:
        yield clip_client


def test_collection_embeds_and_searches_text_with_clip(
    clip_client: Client, model_dir: Path, unique_name: str
) -> None:
    collection = clip_client.create_collection(unique_name, embedder="clip")
    try:
        assert collection.dimensions == PROJECTION_DIM
        assert collection.info.embedder_options == {"model": str(model_dir)}
        texts = {
            "coffee": "Coffee Maker with a glass carafe",
            "espresso": "Espresso Machine with a steam wand",
            "cat": "a photo of a cat sleeping on a sofa",
            "van-gogh": "sunflowers painted by Vincent van Gogh",
        }
        collection.upsert([{"id": key, "text": text} for key, text in texts.items()])
        assert collection.count() == 4
        stored = collection.get("cat", include_vector=True)
        assert stored.vector is not None
        np.testing.assert_allclose(
            stored.vector, ClipEmbedder(clip_client.settings, {}).embed_texts([texts["cat"]])[0], atol=1e-6
        )
        for key, text in texts.items():
            results = collection.search(text, k=4, exact=True)
            assert results.ids[0] == key
            assert results[0].distance == pytest.approx(0.0, abs=1e-5)
            assert len(results) == 4
        # Reopened by a client without PGSIMILAR_CLIP_PATH: the stored path still finds the model.
        with Client(
            settings=Settings(
                data_dir=clip_client.settings.data_dir,
                database_url=clip_client.settings.database_url,
                clip_path=None,
            )
        ) as other:
            reopened = other.get_collection(unique_name)
            assert reopened.search(texts["espresso"], k=1).ids == ["espresso"]
    finally:
        clip_client.drop_collection(unique_name, missing_ok=True)


def read_fashion_mnist(count: int) -> tuple[list[Image.Image], list[int]]:
    """The first ``count`` Fashion-MNIST test images (28x28, greyscale) and their labels."""
    pixels, labels = fashion_test_set(count)
    return [Image.fromarray(image, "L") for image in pixels], [int(label) for label in labels]


@pytest.fixture(scope="module")
def real_clip() -> ClipEmbedder:
    path = os.environ.get("PGSIMILAR_CLIP_PATH")
    if not path:
        pytest.skip(
            "no CLIP weights on this machine: set PGSIMILAR_CLIP_PATH to a directory holding a CLIP model "
            "(e.g. openai/clip-vit-base-patch32 in Hugging Face format) to check what the vectors mean"
        )
    return ClipEmbedder(Settings(clip_path=Path(path)), {})


def test_real_weights_match_colours_to_their_names(real_clip: ClipEmbedder) -> None:
    colours = {"red": (220, 20, 20), "green": (20, 180, 40), "blue": (20, 40, 220), "yellow": (240, 220, 20)}
    images = real_clip.embed_images([Image.new("RGB", (224, 224), rgb) for rgb in colours.values()])
    texts = real_clip.embed_texts([f"a plain {name} image" for name in colours])
    assert_unit_rows(images, len(colours), real_clip.dimensions)
    assert (images @ texts.T).argmax(axis=1).tolist() == list(range(len(colours)))


def test_real_weights_classify_fashion_mnist_zero_shot(real_clip: ClipEmbedder) -> None:
    names = [
        "t-shirt",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle boot",
    ]
    images, labels = read_fashion_mnist(200)
    image_vectors = real_clip.embed_images(images)
    prompts = real_clip.embed_texts([f"a photo of a {name}." for name in names])
    accuracy = float(np.mean((image_vectors @ prompts.T).argmax(axis=1) == np.array(labels)))
    assert accuracy > 0.3, f"zero-shot accuracy {accuracy:.2f} (chance is 0.10)"
