"""The product-similarity demo with the real model: the catalogue loads once (reloading changes
nothing), "find similar" gives five neighbours by exact cosine distance, and an added Espresso Machine
comes out nearest to the Coffee Maker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgsimilar import Client, CollectionNotFound, InvalidInput
from pgsimilar.demo.product_demo import (
    PRODUCT_DEMO_COLLECTION,
    Product,
    add_product,
    list_products,
    load_sample_catalogue,
    products_to_add,
    sample_catalogue,
    similar_products,
)


@pytest.fixture
def fresh(client: Client) -> Iterator[Client]:
    client.drop_collection(PRODUCT_DEMO_COLLECTION, missing_ok=True)
    yield client
    client.drop_collection(PRODUCT_DEMO_COLLECTION, missing_ok=True)


def test_the_catalogue_holds_the_classic_products() -> None:
    names = {product.name for product in sample_catalogue()}
    assert len(names) == 10
    assert {
        "Wireless Bluetooth Headphones",
        "Noise Cancelling Earbuds",
        "Gaming Laptop",
        "Running Shoes",
        "Coffee Maker",
    } <= names
    assert [p.name for p in products_to_add()] == [
        "Espresso Machine",
        "Wireless Gaming Mouse",
        "Fitness Tracker Band",
    ]
    assert all(
        p.description and p.price > 0 and p.category for p in [*sample_catalogue(), *products_to_add()]
    )


def test_similar_products_and_a_new_product_among_them(fresh: Client) -> None:
    with pytest.raises(CollectionNotFound):
        list_products(fresh)
    assert load_sample_catalogue(fresh).inserted == 10
    again = load_sample_catalogue(fresh)
    assert (again.inserted, again.updated, again.unchanged, again.embedded) == (0, 0, 10, 0)
    collection = fresh.get_collection(PRODUCT_DEMO_COLLECTION)
    assert (collection.info.embedder, collection.metric.value) == ("minilm", "cosine")

    before = similar_products(fresh, "coffee-maker")
    assert len(before) == 5 and "coffee-maker" not in before.ids
    assert before.explain is not None and "<=>" in before.explain.sql and before.explain.exact

    espresso = next(p for p in products_to_add() if p.id == "espresso-machine")
    assert add_product(fresh, espresso).inserted == 1
    after = similar_products(fresh, "coffee-maker")
    assert after.ids[0] == "espresso-machine"
    assert after[0].distance is not None and after[0].distance < after[1].distance  # type: ignore[operator]
    assert Product.from_hit(after[0]) == espresso  # the record gives the product back whole
    assert [p.name for p in list_products(fresh)][:3] == [
        "Coffee Maker",
        "Electric Kettle",
        "Espresso Machine",
    ]


def test_a_product_from_a_form_is_checked() -> None:
    product = Product.create("  Café Grinder 2000 ", "kitchen", "$ 49.5", "Burr grinder for espresso.")
    assert (product.id, product.name, product.price) == ("cafe-grinder-2000", "Café Grinder 2000", 49.5)
    assert Product.create("抹茶", "tea", "3", "Green tea powder.").id.startswith("product-")
    for fields, message in [
        (("", "kitchen", "1", "d"), "name is empty"),
        (("Thing", " ", "1", "d"), "category is empty"),
        (("Thing", "kitchen", "1", ""), "description is empty"),
        (("Thing", "kitchen", "cheap", "d"), "price must be a number"),
        (("Thing", "kitchen", "-1", "d"), "from 0"),
        (("Thing", "kitchen", "nan", "d"), "from 0"),
        (("x" * 121, "kitchen", "1", "d"), "longer than 120"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            Product.create(*fields)
