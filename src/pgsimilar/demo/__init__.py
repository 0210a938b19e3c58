"""Demo data that ships with pgsimilar: a product catalogue (descriptions written for pgsimilar) and
29 public-domain clip-art pictures (see images/LICENSE.md)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..core.client import DEFAULT_NAMESPACE, Client
from ..core.loaders import input_files, records_from_jsonl
from ..core.types import Record

PRODUCTS_COLLECTION = "demo-products"
IMAGES_COLLECTION = "demo-images"
IMAGES_EMBEDDER = "minilm-vision"  # works offline; CLIP would need downloaded weights


def _resource(name: str) -> Path:
    return Path(str(files(__package__).joinpath(name)))


def sample_products() -> list[Record]:
    """Two dozen products (name, category, price in metadata; name and description as content)."""
    return list(records_from_jsonl(_resource("products.jsonl")))


def sample_images() -> list[Record]:
    """The demo pictures, with title, category, source and (where known) artist as metadata."""
    return [record for item in input_files([_resource("images")]) for record in item.records()]


def load_demo_products(client: Client) -> int:
    """The product catalogue in ``default/demo-products``; unchanged products are not embedded again."""
    products = client.create_collection(PRODUCTS_COLLECTION, namespace=DEFAULT_NAMESPACE, exist_ok=True)
    products.upsert(sample_products())
    return products.count()


def load_demo_images(client: Client) -> int:
    """The pictures in ``default/demo-images`` (embedder minilm-vision)."""
    images = client.create_collection(
        IMAGES_COLLECTION, namespace=DEFAULT_NAMESPACE, embedder=IMAGES_EMBEDDER, exist_ok=True
    )
    images.upsert(sample_images())
    return images.count()
