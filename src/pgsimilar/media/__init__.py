"""Images: decoding, checking and thumbnails (no database or model code here)."""

from .images import IMAGE_SUFFIXES, SUPPORTED_FORMATS, CheckedImage, load_image

__all__ = ["IMAGE_SUFFIXES", "SUPPORTED_FORMATS", "CheckedImage", "load_image"]
