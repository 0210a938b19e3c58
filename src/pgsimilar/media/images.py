"""Decode and check images before anything is stored: format, size, pixel count, corruption.

An image is decoded fully (so a truncated file is caught here, not later), turned upright by its EXIF
orientation, flattened onto white if it has transparency, and reduced to a working copy small enough
for any embedder. The original bytes are kept as given; a WebP thumbnail is made for the UI.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InvalidImage

SUPPORTED_FORMATS: dict[str, str] = {
    "BMP": "image/bmp",
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
IMAGE_SUFFIXES = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".gif"})

WORKING_SIZE = 512  # longest side of the copy handed to embedders (CLIP and EfficientNet use 224-260)
THUMBNAIL_SIZE = 256

ImageSource = bytes | Path | Image.Image


@dataclass(frozen=True)
class CheckedImage:
    """A decoded image: the original bytes and type, an RGB working copy, and a WebP thumbnail."""

    data: bytes
    media_type: str
    width: int
    height: int
    working: Image.Image
    thumbnail: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _read(source: ImageSource, max_bytes: int) -> bytes:
    if isinstance(source, Image.Image):
        buffer = io.BytesIO()
        source.save(buffer, format="PNG")  # a PIL image has no file of its own: keep it losslessly
        return buffer.getvalue()
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise InvalidImage(f"{source}: cannot read it ({exc.strerror})") from exc
        if size > max_bytes:
            raise InvalidImage(f"{source}: {size:,} bytes, more than the limit of {max_bytes:,}")
        return source.read_bytes()
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    raise InvalidImage(f"an image must be bytes, a path or a PIL image, not {type(source).__name__}")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB; transparent parts become white (clip art is mostly transparent, and black would dominate)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(source: ImageSource, *, max_bytes: int, max_pixels: int, name: str = "image") -> CheckedImage:
    """Decode and check an image; any problem is an :class:`InvalidImage` naming ``name``."""
    data = _read(source, max_bytes)
    if not data:
        raise InvalidImage(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise InvalidImage(f"{name}: {len(data):,} bytes, more than the limit of {max_bytes:,}")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its own limit raises) for huge images; ours is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.format not in SUPPORTED_FORMATS:
                raise InvalidImage(
                    f"{name}: {opened.format or 'unknown'} images are not supported; use "
                    f"{', '.join(sorted(SUPPORTED_FORMATS))}"
                )
            if opened.width * opened.height > max_pixels:
                raise InvalidImage(
                    f"{name}: {opened.width}x{opened.height} pixels, more than the limit of {max_pixels:,}"
                )
            media_type = SUPPORTED_FORMATS[opened.format]
            opened.seek(0)  # the first frame of an animation
            opened.load()
            upright = ImageOps.exif_transpose(opened)
    except InvalidImage:
        raise
    except Image.DecompressionBombError as exc:  # Pillow refuses far-too-large images at open
        raise InvalidImage(f"{name}: more pixels than the limit of {max_pixels:,} ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(f"{name}: not an image Pillow can read ({exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(f"{name}: the image is corrupt or truncated ({exc})") from exc
    working = _flatten(upright)
    working.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.LANCZOS)
    return CheckedImage(
        data=data,
        media_type=media_type,
        width=upright.width,
        height=upright.height,
        working=working,
        thumbnail=_thumbnail(working),
    )


def _thumbnail(image: Image.Image) -> bytes:
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="WEBP", quality=80, method=4)
    return buffer.getvalue()
