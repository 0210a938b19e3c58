"""Fashion-MNIST from the shared data folder, for tests that need real labelled pictures."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from .conftest import SHARED_DATA

FASHION_MNIST = SHARED_DATA / "fashion-mnist"
CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip


def fashion_test_set(count: int | None = None) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The first ``count`` (default: all 10,000) test images (28x28 grey) and their labels; skips the
    test if the data is missing."""
    images_path = FASHION_MNIST / "t10k-images-idx3-ubyte.gz"
    labels_path = FASHION_MNIST / "t10k-labels-idx1-ubyte.gz"
    if not (images_path.is_file() and labels_path.is_file()):
        pytest.skip(f"Fashion-MNIST test set not found under {FASHION_MNIST}")
    with gzip.open(images_path) as stream:
        pixels = np.frombuffer(stream.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(labels_path) as stream:
        labels = np.frombuffer(stream.read(), dtype=np.uint8, offset=8)
    return pixels[:count], labels[:count]


def png(pixels: npt.NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def zip_of_pngs(count: int) -> tuple[bytes, list[bytes], npt.NDArray[np.uint8]]:
    """A zip of the first ``count`` distinct test images as PNG files named by class, with a
    metadata.csv sidecar giving each its label; also the PNGs and the labels."""
    pixels, labels = fashion_test_set(count * 2)
    seen: set[bytes] = set()
    chosen: list[int] = []
    for index in range(len(pixels)):
        if pixels[index].tobytes() not in seen and len(chosen) < count:
            seen.add(pixels[index].tobytes())
            chosen.append(index)
    pngs = [png(pixels[index]) for index in chosen]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        rows = ["file,label"]
        for number, (index, data) in enumerate(zip(chosen, pngs, strict=True)):
            name = f"images/{CLASSES[labels[index]].replace(' ', '-')}-{number:04d}.png"
            archive.writestr(name, data)
            rows.append(f"{name},{CLASSES[labels[index]]}")
        archive.writestr("metadata.csv", "\n".join(rows) + "\n")
    return buffer.getvalue(), pngs, labels[chosen]
