"""The product-similarity demo: a small catalogue in ``default/product-demo`` (minilm, cosine), the
five nearest products of any product by exact cosine distance, and products added later.

The catalogue (``sample_products.jsonl``) and the products offered for adding (``new_products.jsonl``)
have descriptions written for pgsimilar. A product is stored as one record: its id, ``"Name.
Description"`` as content (what is embedded) and name, category and price as metadata.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from ..core.browse import list_records
from ..core.client import DEFAULT_NAMESPACE, Client
from ..core.collection import Collection
from ..core.types import Hit, Record, SearchResults, UpsertResult
from ..errors import InvalidInput

PRODUCT_DEMO_COLLECTION = "product-demo"
PRODUCT_DEMO_EMBEDDER = "minilm"
SIMILAR_COUNT = 5
MAX_PRODUCTS_SHOWN = 500
_LIMITS = {"name": 120, "category": 60, "description": 2000}
_MAX_PRICE = 1_000_000_000.0


@dataclass(frozen=True)
class Product:
    """A catalogue entry; ``id`` is derived from the name when not given."""

    id: str
    name: str
    category: str
    price: float
    description: str

    @classmethod
    def create(cls, name: str, category: str, price: str | float, description: str) -> Product:
        """A product from user input: every field required, trimmed and bounded; the price a number >= 0."""
        fields = {"name": name.strip(), "category": category.strip(), "description": description.strip()}
        for field, value in fields.items():
            if not value:
                raise InvalidInput(f"the product {field} is empty")
            if len(value) > _LIMITS[field]:
                raise InvalidInput(f"the product {field} is longer than {_LIMITS[field]} characters")
        return cls(id=product_id(fields["name"]), price=_price(price), **fields)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Product:
        return cls(**data)

    @classmethod
    def from_stored(cls, record_id: str, content: str | None, metadata: dict[str, Any]) -> Product:
        """The product a stored record (or a search hit) holds."""
        name = str(metadata.get("name", record_id))
        price = metadata.get("price")
        return cls(
            id=record_id,
            name=name,
            category=str(metadata.get("category", "")),
            price=float(price) if isinstance(price, int | float) else math.nan,
            description=(content or "").removeprefix(f"{name}. "),
        )

    @classmethod
    def from_hit(cls, hit: Hit) -> Product:
        return cls.from_stored(hit.id, hit.content, hit.metadata)

    def to_record(self) -> Record:
        return Record(
            id=self.id,
            content=f"{self.name}. {self.description}",
            metadata={"name": self.name, "category": self.category, "price": self.price},
        )


def product_id(name: str) -> str:
    """The id of a product: its name as a slug (``Café Grinder`` -> ``cafe-grinder``), or a hash of it
    for a name with no Latin letters or digits."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:100]
    return slug or "product-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


def _price(value: str | float) -> float:
    try:
        price = float(value.strip().removeprefix("$") if isinstance(value, str) else value)
    except ValueError:
        raise InvalidInput(f"the price must be a number, like 19.99; got {value!r}") from None
    if not (math.isfinite(price) and 0 <= price <= _MAX_PRICE):
        raise InvalidInput(f"the price must be a number from 0 to {_MAX_PRICE:,.0f}")
    return round(price, 2)


def _read(name: str) -> list[Product]:
    text = files(__package__).joinpath(name).read_text(encoding="utf-8")
    return [Product.from_json(json.loads(line)) for line in text.splitlines() if line.strip()]


def sample_catalogue() -> list[Product]:
    """The ten products "Load sample products" stores."""
    return _read("sample_products.jsonl")


def products_to_add() -> list[Product]:
    """Products the demo offers to add later (an espresso machine, a gaming mouse, a fitness band)."""
    return _read("new_products.jsonl")


def product_collection(client: Client, *, create: bool = False) -> Collection:
    """``default/product-demo``; made (minilm, cosine) when ``create``, else CollectionNotFound if absent."""
    if create:
        return client.create_collection(
            PRODUCT_DEMO_COLLECTION,
            namespace=DEFAULT_NAMESPACE,
            embedder=PRODUCT_DEMO_EMBEDDER,
            metric="cosine",
            exist_ok=True,
        )
    return client.get_collection(PRODUCT_DEMO_COLLECTION, namespace=DEFAULT_NAMESPACE)


def load_sample_catalogue(client: Client) -> UpsertResult:
    """Store the sample catalogue; loading it again changes nothing (upsert by id, unchanged products
    are not embedded again)."""
    return product_collection(client, create=True).upsert([p.to_record() for p in sample_catalogue()])


def add_product(client: Client, product: Product) -> UpsertResult:
    """Store ``product`` (replacing a product of the same id)."""
    return product_collection(client, create=True).upsert([product.to_record()])


def list_products(client: Client) -> list[Product]:
    """The stored products by name (at most :data:`MAX_PRODUCTS_SHOWN`)."""
    records = list_records(product_collection(client), limit=MAX_PRODUCTS_SHOWN)
    products = [Product.from_stored(r.id, r.content, r.metadata) for r in records]
    return sorted(products, key=lambda product: product.name.casefold())


def similar_products(client: Client, product_id: str, *, k: int = SIMILAR_COUNT) -> SearchResults:
    """The ``k`` products nearest to ``product_id`` by exact cosine distance, with the SQL that ran."""
    return product_collection(client).similar(product_id, k=k, exact=True, explain=True)
