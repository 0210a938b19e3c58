"""Zero-shot retrieval quality of ``minilm-vision`` on the 10,000 Fashion-MNIST test images.

Image-to-image: every image is a query against the other 9,999; precision@10 counts neighbours with
the query's label. Text-to-image: one prompt per class ("a photo of a {class}") against all 10,000;
precision@10 counts images of that class. Chance is 0.10 for both. Brute-force cosine in numpy
(the vectors are unit length, so a dot product).

    python bench/fashion_mnist_zero_shot.py [--classifier efficientnet-lite0] [--limit N]

Prints the figures and writes them to ``bench/results/fashion_mnist_zero_shot.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from pgsimilar.config import Settings
from pgsimilar.embedders.registry import create_embedder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
RESULTS = ROOT / "bench" / "results" / "fashion_mnist_zero_shot.json"
CLASSES = [
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
PROMPT = "a photo of a {name}"
K = 10


def load_test_set() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    with gzip.open(DATA / "t10k-images-idx3-ubyte.gz") as stream:
        pixels = np.frombuffer(stream.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(DATA / "t10k-labels-idx1-ubyte.gz") as stream:
        labels = np.frombuffer(stream.read(), dtype=np.uint8, offset=8)
    return pixels, labels


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Indices of the k highest scores of each row, best first."""
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def image_to_image(
    vectors: npt.NDArray[np.float32], labels: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64]:
    """Precision@K of every image as a query against all the others (blocks of rows keep memory small)."""
    precision = np.empty(len(vectors))
    for start in range(0, len(vectors), 1000):
        stop = min(start + 1000, len(vectors))
        scores = vectors[start:stop] @ vectors.T
        scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # not its own neighbour
        hits = labels[top_k(scores, K)] == labels[start:stop, None]
        precision[start:stop] = hits.mean(axis=1)
    return precision


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--classifier", default="efficientnet-lite0")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N test images")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    pixels, labels = load_test_set()
    if args.limit:
        pixels, labels = pixels[: args.limit], labels[: args.limit]
    embedder = create_embedder("minilm-vision", Settings(), {"classifier": args.classifier})

    started = time.perf_counter()
    embedder.embed_images([Image.new("RGB", (28, 28))])  # load both models before timing
    loaded = time.perf_counter()
    chunks = []
    for start in range(0, len(pixels), 500):
        images = [Image.fromarray(image).convert("RGB") for image in pixels[start : start + 500]]
        chunks.append(embedder.embed_images(images))
        done = start + len(images)
        rate = done / (time.perf_counter() - loaded)
        print(f"  embedded {done}/{len(pixels)} images ({rate:.1f}/s)", flush=True)
    vectors = np.vstack(chunks)
    embed_seconds = time.perf_counter() - loaded

    per_image = image_to_image(vectors, labels)
    prompts = [PROMPT.format(name=name) for name in CLASSES]
    text_hits = (
        labels[top_k(embedder.embed_texts(prompts) @ vectors.T, K)] == np.arange(len(CLASSES))[:, None]
    )
    text_per_class = text_hits.mean(axis=1)

    results: dict[str, Any] = {
        "embedder": "minilm-vision",
        "model_id": embedder.model_id,
        "images": len(vectors),
        "k": K,
        "chance": 0.1,
        "image_to_image_precision_at_10": round(float(per_image.mean()), 4),
        "image_to_image_by_class": {
            name: round(float(per_image[labels == label].mean()), 4) for label, name in enumerate(CLASSES)
        },
        "text_prompt": PROMPT,
        "text_to_image_precision_at_10": round(float(text_per_class.mean()), 4),
        "text_to_image_by_class": {
            name: round(float(p), 4) for name, p in zip(CLASSES, text_per_class, strict=True)
        },
        "load_seconds": round(loaded - started, 1),
        "embed_seconds": round(embed_seconds, 1),
        "images_per_second": round(len(vectors) / embed_seconds, 1),
        "machine": {
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
    }
    print(f"image-to-image precision@10: {results['image_to_image_precision_at_10']:.4f} (chance 0.10)")
    print(f"text-to-image precision@10:  {results['text_to_image_precision_at_10']:.4f} (chance 0.10)")
    for name in CLASSES:
        i2i, t2i = results["image_to_image_by_class"][name], results["text_to_image_by_class"][name]
        print(f"  {name:12s} image-to-image {i2i:.3f}   text-to-image {t2i:.1f}")
    print(
        f"embedded {len(vectors)} images in {embed_seconds:.0f} s ({results['images_per_second']} images/s)"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
