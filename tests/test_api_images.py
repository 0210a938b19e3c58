"""Images over the API: base64 records, downloads of images and thumbnails, search by image."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from pgsimilar import Client
from pgsimilar.config import Settings
from pgsimilar.demo import _resource

from .api_helpers import assert_error, collection_path, new_name, serve

PICTURES = _resource("images")
PENGUIN = (PICTURES / "animals/emperor_penguin_ralf_ste_01.png").read_bytes()
GUITAR = (PICTURES / "music/electric_guitar_andrea__01r.png").read_bytes()
BANANAS = (PICTURES / "food/bananas_nicu_buculei_01.png").read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def pictures(client: Client) -> Iterator[str]:
    name = new_name()
    client.create_collection(name, embedder="minilm-vision")
    yield name
    client.drop_collection(name)


def test_image_records_round_trip_and_search(settings: Settings, client: Client, pictures: str) -> None:
    path = collection_path("default", pictures)
    with serve(settings, client) as http:
        body = {
            "records": [
                {"id": "penguin", "image": b64(PENGUIN), "metadata": {"kind": "animal"}},
                {
                    "id": "guitar",
                    "image": "data:image/png;base64," + b64(GUITAR),
                    "metadata": {"kind": "music"},
                },
                {"id": "bananas", "image": b64(BANANAS), "text": "a bunch of bananas"},
            ]
        }
        upserted = http.put(f"{path}/records", json=body)
        assert upserted.status_code == 200, upserted.text
        assert upserted.json()["embedded"] == 3

        image = http.get(f"{path}/records/penguin/image")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content == PENGUIN
        thumbnail = http.get(f"{path}/records/penguin/thumbnail")
        assert thumbnail.headers["content-type"] == "image/webp"
        assert max(Image.open(io.BytesIO(thumbnail.content)).size) <= 256

        by_text = http.post(f"{path}/search", json={"text": "a penguin", "k": 1}).json()["data"]
        assert by_text[0]["id"] == "penguin"
        assert by_text[0]["image_url"] == f"{path}/records/penguin/image"
        assert http.get(by_text[0]["thumbnail_url"]).status_code == 200

        by_image = http.post(f"{path}/search", json={"image": b64(GUITAR), "k": 1}).json()["data"]
        assert by_image[0]["id"] == "guitar"
        uploaded = http.post(
            f"{path}/search/image", files={"file": ("q.png", PENGUIN, "image/png")}, data={"k": "2"}
        )
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["data"][0]["id"] == "penguin"
        filtered = http.post(
            f"{path}/search/image",
            files={"file": ("q.png", PENGUIN, "image/png")},
            data={"k": "3", "filter": '{"kind": "music"}'},
        ).json()["data"]
        assert [hit["id"] for hit in filtered] == ["guitar"]


def test_bad_images_over_the_api(settings: Settings, client: Client, pictures: str) -> None:
    path = collection_path("default", pictures)
    with serve(settings, client) as http:
        assert_error(
            http.put(f"{path}/records", json={"records": [{"id": "x", "image": "@@@"}]}), 400, "invalid_image"
        )
        corrupt = {
            "records": [{"id": "ok", "image": b64(PENGUIN)}, {"id": "bad", "image": b64(PENGUIN[:200])}]
        }
        assert_error(http.put(f"{path}/records", json=corrupt), 400, "invalid_image")
        assert http.get(collection_path("default", pictures)).json()["count"] == 0
        empty = http.post(f"{path}/search/image", files={"file": ("q.png", b"", "image/png")})
        assert_error(empty, 400)
        assert_error(http.get(f"{path}/records/nobody/image"), 404, "record_not_found")
        http.put(f"{path}/records", json={"records": [{"id": "v", "vector": [0.1] * 384}]})
        assert_error(http.get(f"{path}/records/v/thumbnail"), 404, "record_not_found")
        text_only = new_name()
        client.create_collection(text_only)
        try:
            answer = http.post(
                collection_path("default", text_only, "search", "image"),
                files={"file": ("q.png", PENGUIN, "image/png")},
            )
            assert_error(answer, 400, "unsupported_modality")
        finally:
            client.drop_collection(text_only)
