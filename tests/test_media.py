"""Decoding and checking images: formats, orientation, transparency, limits, corrupt files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pgsimilar import InvalidImage
from pgsimilar.media import load_image
from pgsimilar.media.images import THUMBNAIL_SIZE, WORKING_SIZE

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 20_000_000}


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("BMP", "image/bmp"),
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("TIFF", "image/tiff"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
    ],
)
def test_supported_formats_decode_to_rgb(fmt: str, media_type: str) -> None:
    data = encoded(Image.new("RGB", (64, 48), (200, 30, 30)), fmt)
    checked = load_image(data, **LIMITS)
    assert checked.media_type == media_type
    assert (checked.width, checked.height) == (64, 48)
    assert checked.working.mode == "RGB" and checked.working.size == (64, 48)
    assert checked.data == data  # the original bytes are kept as given
    red, green, _ = checked.working.getpixel((10, 10))  # type: ignore[misc]
    assert red > 150 and green < 80


def test_an_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    pixel = load_image(data, **LIMITS).working.getpixel((5, 5))
    assert pixel[0] > 200 and pixel[2] < 50  # type: ignore[index]


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (60, 20), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    checked = load_image(encoded(image, "JPEG", exif=exif), **LIMITS)
    assert (checked.width, checked.height) == (20, 60)


def test_transparency_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert load_image(encoded(image, "PNG"), **LIMITS).working.getpixel((0, 0)) == (255, 255, 255)


def test_large_images_get_a_small_working_copy_and_a_webp_thumbnail() -> None:
    checked = load_image(encoded(Image.new("RGB", (2000, 1000), (9, 9, 9)), "PNG"), **LIMITS)
    assert max(checked.working.size) == WORKING_SIZE
    thumbnail = Image.open(io.BytesIO(checked.thumbnail))
    assert thumbnail.format == "WEBP" and max(thumbnail.size) == THUMBNAIL_SIZE


def test_paths_and_pil_images_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    Image.new("RGB", (8, 8)).save(path)
    assert load_image(path, **LIMITS).media_type == "image/png"
    from_pil = load_image(Image.new("L", (8, 8), 100), **LIMITS)
    assert from_pil.media_type == "image/png" and from_pil.working.mode == "RGB"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"definitely not an image", "not an image"),
        (encoded(Image.new("RGB", (300, 300), (1, 2, 3)), "PNG")[:200], "corrupt or truncated"),
        (encoded(Image.new("RGB", (300, 300), (1, 2, 3)), "JPEG")[:300], "corrupt or truncated"),
        (encoded(Image.new("RGB", (16, 16)), "ICO"), "not supported"),
        (encoded(Image.new("RGB", (16, 16)), "PDF"), "not an image"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        load_image(data, **LIMITS, name="upload.png")


def test_size_and_pixel_limits(tmp_path: Path) -> None:
    big = encoded(Image.new("RGB", (1000, 1000)), "BMP")  # 3 MB uncompressed
    with pytest.raises(InvalidImage, match="more than the limit"):
        load_image(big, max_bytes=1_000_000, max_pixels=LIMITS["max_pixels"])
    path = tmp_path / "big.bmp"
    path.write_bytes(big)
    with pytest.raises(InvalidImage, match="more than the limit"):
        load_image(path, max_bytes=1_000_000, max_pixels=LIMITS["max_pixels"])
    with pytest.raises(InvalidImage, match="1000x1000 pixels"):
        load_image(big, max_bytes=LIMITS["max_bytes"], max_pixels=999_999)


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    """A tiny PNG claiming 40,000 x 40,000 pixels (1.6 GP): refused from its header alone."""
    bomb = encoded(Image.new("1", (40_000, 40_000)), "PNG")
    assert len(bomb) < 300_000
    with pytest.raises(InvalidImage, match="pixels than the limit"):
        load_image(bomb, **LIMITS)
