"""The product demo in a browser: load the catalogue, find the products nearest to the Coffee Maker,
add the Espresso Machine and see it come first, add a product of your own."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from pgsimilar import Client
from pgsimilar.demo.product_demo import PRODUCT_DEMO_COLLECTION

from .conftest import capture


@pytest.fixture
def empty_demo(client: Client) -> Iterator[None]:
    client.drop_collection(PRODUCT_DEMO_COLLECTION, missing_ok=True)
    yield
    client.drop_collection(PRODUCT_DEMO_COLLECTION, missing_ok=True)


def neighbour_names(page: Page) -> list[str]:
    return page.locator("#similar tbody tr .product-name").all_inner_texts()


def test_find_similar_then_add_a_product_that_appears_in_the_results(page: Page, empty_demo: None) -> None:
    page.goto("/demo/products")
    capture(page, "demo-empty")
    page.get_by_role("button", name="Load sample products").click()
    expect(page.locator(".flash-success")).to_contain_text("Sample products loaded: 10 new")
    expect(page.locator(".catalogue tbody tr")).to_have_count(10)

    page.get_by_label("Product", exact=True).select_option(label="Coffee Maker")
    page.get_by_role("button", name="Find similar").click()
    expect(page.locator("#similar-heading")).to_contain_text("Coffee Maker")
    before = neighbour_names(page)
    assert len(before) == 5 and "Coffee Maker" not in before and "Espresso Machine" not in before

    page.get_by_role("button", name="Add Espresso Machine").click()
    expect(page.locator(".flash-success")).to_contain_text("Added Espresso Machine")
    # Back on the same comparison: the new product is now the nearest to the Coffee Maker.
    expect(page.locator("#similar-heading")).to_contain_text("Coffee Maker")
    first = page.locator("#similar tbody tr").first
    expect(first.locator(".product-name")).to_have_text("Espresso Machine")
    expect(first.locator(".rank")).to_have_text("1.")
    distance = first.locator(".distance-value").inner_text()
    assert re.fullmatch(r"0\.\d{4}", distance), distance
    assert float(distance) < 0.5
    capture(page, "demo-similar")

    # Loading the samples again changes nothing, and the added product stays.
    page.get_by_role("button", name="Reload sample products").click()
    expect(page.locator(".flash-success")).to_contain_text("0 new, 0 updated, 10 unchanged (0 embedded)")
    expect(page.locator(".catalogue tbody tr")).to_have_count(11)


def test_add_your_own_product_and_refuse_a_bad_price(page: Page, client: Client, empty_demo: None) -> None:
    page.goto("/demo/products")
    page.get_by_role("button", name="Load sample products").click()
    page.get_by_label("Name", exact=True).fill("Trail Backpack")
    page.get_by_label("Category", exact=True).fill("sports")
    page.get_by_label("Price ($)").fill("a lot")
    page.get_by_label("Description", exact=True).fill(
        "A 20 litre pack for day hikes with a rain cover and hip belt."
    )
    page.get_by_role("button", name="Add product").click()
    expect(page.locator(".flash-error")).to_contain_text("the price must be a number")

    page.get_by_label("Name", exact=True).fill("Trail Backpack")
    page.get_by_label("Category", exact=True).fill("sports")
    page.get_by_label("Price ($)").fill("64.50")
    page.get_by_label("Description", exact=True).fill(
        "A 20 litre pack for day hikes with a rain cover and hip belt."
    )
    page.get_by_role("button", name="Add product").click()
    expect(page.locator(".flash-success")).to_contain_text("Added Trail Backpack (sports, $64.50)")
    row = page.locator(".catalogue tbody tr", has_text="Trail Backpack")
    expect(row).to_contain_text("$64.50")
    stored = client.get_collection(PRODUCT_DEMO_COLLECTION).get("trail-backpack")
    assert stored.metadata == {"name": "Trail Backpack", "category": "sports", "price": 64.5}
