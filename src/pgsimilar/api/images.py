"""Images in the API: base64 in JSON bodies, and the URLs that serve a record's image and thumbnail."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from ..errors import InvalidImage


def decode_base64_image(data: str, field: str) -> bytes:
    """The bytes of a base64 image; a data URL (``data:image/png;base64,...``) works too."""
    payload = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        decoded = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage(f"{field} is not valid base64: {exc}") from exc
    if not decoded:
        raise InvalidImage(f"{field} is empty")
    return decoded


def image_urls(namespace: str, collection: str, record_id: str) -> dict[str, str]:
    base = f"/v1/namespaces/{namespace}/collections/{collection}/records/{quote(record_id, safe='')}"
    return {"image_url": f"{base}/image", "thumbnail_url": f"{base}/thumbnail"}
