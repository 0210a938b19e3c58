"""Image records through the storage layer, with a small deterministic image embedder.

The real multimodal embedders have their own tests; this one checks what happens around them: the
bytes kept, thumbnails, the skip of unchanged images, all-or-nothing writes, search by image.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pgsimilar import Client, Collection, InvalidImage, Record, RecordNotFound, UnsupportedModality
from pgsimilar.embedders.base import Embedder, Modality, Vectors


class MeanColour(Embedder):
    """An image's mean colour as a unit vector: similar colours, similar vectors."""

    name = "mean-colour"
    modalities = frozenset({Modality.IMAGE})

    def __init__(self) -> None:
        self.calls = 0

    @property
    def dimensions(self) -> int:
        return 3

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        self.calls += len(images)
        means = np.array([np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(0) + 1 for image in images])
        return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)


def png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def pictures(client: Client, unique_name: str) -> Iterator[Collection]:
    collection = client.create_collection(unique_name, embedder="none", dimensions=3)
    collection.embedder = MeanColour()
    yield collection
    client.drop_collection(unique_name)


def test_images_from_bytes_paths_and_pil_are_stored_with_thumbnails(
    pictures: Collection, tmp_path: Path
) -> None:
    path = tmp_path / "blue.png"
    path.write_bytes(png((0, 0, 250)))
    result = pictures.upsert(
        [
            Record(id="red", image=png((250, 0, 0)), metadata={"colour": "red"}),
            Record(id="blue", image=path, content="a blue square"),
            {"id": "green", "image": Image.new("RGB", (12, 12), (0, 200, 0))},
        ]
    )
    assert (result.inserted, result.embedded) == (3, 3)
    data, media_type = pictures.get_image("red")
    assert (data, media_type) == (png((250, 0, 0)), "image/png")
    thumbnail, thumbnail_type = pictures.get_image("blue", thumbnail=True)
    assert thumbnail_type == "image/webp" and Image.open(io.BytesIO(thumbnail)).format == "WEBP"
    assert pictures.get("blue").content == "a blue square"


def test_unchanged_images_are_not_embedded_again(pictures: Collection) -> None:
    embedder = pictures.embedder
    assert isinstance(embedder, MeanColour)
    pictures.upsert([Record(id="a", image=png((10, 200, 10))), Record(id="b", image=png((200, 10, 10)))])
    again = pictures.upsert([Record(id="a", image=png((10, 200, 10)), metadata={"tag": "new"})])
    assert (again.updated, again.embedded, embedder.calls) == (1, 0, 2)
    changed = pictures.upsert([Record(id="b", image=png((10, 10, 200)))])
    assert (changed.updated, changed.embedded, embedder.calls) == (1, 1, 3)
    assert pictures.get_image("b")[0] == png((10, 10, 200))


def test_search_by_image_similar_and_filter(pictures: Collection) -> None:
    pictures.upsert(
        [
            Record(id="red", image=png((240, 10, 10)), metadata={"warm": True}),
            Record(id="orange", image=png((240, 120, 10)), metadata={"warm": True}),
            Record(id="blue", image=png((10, 10, 240)), metadata={"warm": False}),
        ]
    )
    results = pictures.search(image=png((250, 0, 0)), k=3)
    assert results.ids == ["red", "orange", "blue"] and all(hit.has_image for hit in results)
    assert pictures.similar("red", k=1).ids == ["orange"]
    assert pictures.search(image=png((250, 0, 0)), k=3, filter={"warm": False}).ids == ["blue"]
    with pytest.raises(InvalidImage, match="query image"):
        pictures.search(image=b"nope")


def test_a_bad_image_fails_the_whole_write(pictures: Collection) -> None:
    pictures.upsert([Record(id="keep", image=png((1, 2, 3)))])
    truncated = png((5, 5, 5), size=(200, 200))[:100]
    for bad in (b"", b"GIF89a-not-really", truncated):
        with pytest.raises(InvalidImage):
            pictures.upsert([Record(id="new", image=png((9, 9, 9))), Record(id="bad", image=bad)])
    assert pictures.count() == 1


def test_modalities_are_checked_before_anything_is_written(client: Client, pictures: Collection) -> None:
    with pytest.raises(UnsupportedModality, match="does not embed texts"):
        pictures.upsert([Record(id="t", content="text without an image")])
    with pytest.raises(UnsupportedModality):
        pictures.search("a text query")
    text_only = client.create_collection(pictures.name + "-text", embedder="minilm")
    try:
        with pytest.raises(UnsupportedModality, match="does not embed images"):
            text_only.upsert([Record(id="i", image=png((1, 1, 1)))])
        with pytest.raises(UnsupportedModality, match="does not embed images"):
            text_only.search(image=png((1, 1, 1)))
        assert text_only.count() == 0
    finally:
        client.drop_collection(text_only.name)


def test_images_of_records_without_one(pictures: Collection) -> None:
    pictures.upsert([Record(id="vector-only", vector=[1.0, 0.0, 0.0])])
    with pytest.raises(RecordNotFound, match="has no image"):
        pictures.get_image("vector-only")
    with pytest.raises(RecordNotFound, match="no record"):
        pictures.get_image("missing")
