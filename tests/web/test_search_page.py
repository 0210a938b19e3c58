"""The search page in a browser: text to image, image upload (file input and drag and drop), metadata
filters from dropdowns, "similar", the SQL panel, and a text collection's ranked list."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from pgsimilar import Client
from pgsimilar.demo import _resource

from .conftest import capture, new_name

TEAPOT = _resource("images") / "kitchen" / "teapot_ganson.png"


def titles(page: Page) -> list[str]:
    return [text.split(".", 1)[1].strip() for text in page.locator(".results .tile-title").all_inner_texts()]


def test_text_to_image_search_shows_a_grid_with_scores_and_the_sql(page: Page, pictures: str) -> None:
    page.goto(f"/ns/default/c/{pictures}")
    expect(page.locator(".results .tile")).to_have_count(12)  # before a search: the records
    page.get_by_label("Describe the picture you are looking for").fill("a bicycle")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results-heading")).to_contain_text("12 results for a bicycle")
    assert titles(page)[0] == "Cyclist"
    first = page.locator(".results .tile").first
    expect(first.locator(".scores")).to_contain_text("score 0.")
    expect(first.locator("img")).to_have_attribute("alt", "Cyclist")
    assert first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.url.endswith("?q=a+bicycle&k=12")  # empty fields stay out of the URL
    sql = page.locator("pre.sql")
    expect(sql).to_contain_text("ORDER BY embedding <=> :query_vector")
    expect(sql).to_contain_text("SET LOCAL hnsw.ef_search = 40;")
    expect(page.locator(".sql-panel mark.op").first).to_have_text("<=>")
    expect(page.locator(".timings")).to_contain_text("Embedding the text")
    capture(page, "search-images-text")

    page.get_by_label("Exact (every record)").check()
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".sql-panel")).to_contain_text("exact nearest-neighbour search")
    expect(page.locator("pre.sql")).to_contain_text("SET LOCAL enable_indexscan = off;")
    assert titles(page)[0] == "Cyclist"

    page.get_by_role("link", name="Similar to Cyclist").click()
    expect(page.locator("#results-heading")).to_contain_text("like transport/bicycle_philippe_colin_01.png")
    assert "Cyclist" not in titles(page)  # the record itself is left out
    expect(page.locator(".timings")).to_contain_text("Reading the record's vector")


def test_search_by_an_uploaded_picture(page: Page, pictures: str) -> None:
    page.goto(f"/ns/default/c/{pictures}")
    page.get_by_label("Search by picture").set_input_files(TEAPOT)
    page.get_by_role("button", name="Search by picture", exact=True).click()
    expect(page.locator("#results-heading")).to_contain_text("your picture teapot_ganson.png")
    assert titles(page)[0] == "Teapot"
    expect(page.locator(".results .tile").first.locator(".scores")).to_contain_text("distance 0.0000")
    expect(page.get_by_alt_text("The picture you searched with")).to_be_visible()
    expect(page.locator(".timings")).to_contain_text("Embedding the picture")
    capture(page, "search-images-upload")


def test_a_picture_dropped_on_the_drop_area_is_searched(page: Page, pictures: str) -> None:
    page.goto(f"/ns/default/c/{pictures}")
    data = base64.b64encode(TEAPOT.read_bytes()).decode("ascii")
    page.evaluate(
        """data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "dropped-teapot.png", {type: "image/png"}));
            const zone = document.querySelector("[data-dropzone]");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        data,
    )
    expect(page.locator("#results-heading")).to_contain_text("your picture dropped-teapot.png")
    assert titles(page)[0] == "Teapot"


def test_a_metadata_dropdown_filters_the_results(page: Page, pictures: str) -> None:
    page.goto(f"/ns/default/c/{pictures}")
    category = page.get_by_label("category", exact=True)
    expect(category.locator("option")).to_have_text(
        ["Any", "animals (3)", "kitchen (2)", "music (4)", "plants (1)", "transport (2)"]
    )
    category.select_option("music")
    page.get_by_label("Describe the picture you are looking for").fill("a cup of tea")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results-heading")).to_contain_text("4 results")
    metas = page.locator(".results .tile-meta").all_inner_texts()
    assert len(metas) == 4 and all(meta.startswith("music") for meta in metas), metas
    expect(page.get_by_label("category", exact=True)).to_have_value("music")  # the form keeps it
    expect(page.locator("pre.sql")).to_contain_text('WHERE ("metadata" @> :f0)')
    # "similar" keeps the filter
    page.locator(".similar-link").first.click()
    metas = page.locator(".results .tile-meta").all_inner_texts()
    assert len(metas) == 3 and all(meta.startswith("music") for meta in metas), metas


@pytest.fixture(scope="module")
def notes(client: Client) -> Iterator[str]:
    """A text collection: notes with a topic, a year and one record carrying markup."""
    name = new_name("notes")
    collection = client.create_collection(name)
    collection.upsert(
        [
            {
                "id": "pg",
                "text": "PostgreSQL is a relational database with extensions such as pgvector.",
                "metadata": {"topic": "databases", "year": 1996},
            },
            {
                "id": "redis",
                "text": "Redis is an in-memory database used for very fast caching.",
                "metadata": {"topic": "databases", "year": 2009},
            },
            {
                "id": "soup",
                "text": "A warm tomato soup with basil for cold evenings.",
                "metadata": {"topic": "cooking", "year": 2020},
            },
            {
                "id": "bread",
                "text": "Sourdough bread needs a starter and a long, slow rise.",
                "metadata": {"topic": "cooking", "year": 2021},
            },
            {
                "id": "xss",
                "text": "<script>alert('content')</script> a note about HTML escaping.",
                "metadata": {"topic": "<script>alert('topic')</script>", "year": 2024},
            },
        ]
    )
    yield name
    client.drop_collection(name, missing_ok=True)


def test_text_collection_ranked_list_with_modes_ranges_and_escaping(page: Page, notes: str) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"/ns/default/c/{notes}")
    page.get_by_label("Search text").fill("which database should I use?")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator(".hits .hit").first
    expect(first.locator(".hit-title")).to_contain_text("pg")
    expect(first.locator(".snippet")).to_contain_text("PostgreSQL is a relational database")
    expect(first.locator(".meta")).to_contain_text("databases")
    expect(page.locator(".hits")).to_contain_text("<script>alert('content')</script>")  # shown as text
    capture(page, "search-text")

    page.get_by_label("Mode").select_option("keyword")
    page.get_by_label("year at least").fill("2000")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".sql-panel")).to_contain_text("ranked by BM25")
    ids = page.locator(".hits .hit-id code").all_inner_texts()
    assert ids == ["redis"], ids  # "database" in keyword mode, from 2000 on
    expect(page.locator("pre.sql")).to_contain_text("content_tsv")

    page.get_by_label("Mode").select_option("hybrid")
    page.get_by_label("year at least").fill("")
    page.get_by_label("Search text").fill("database")
    page.get_by_role("button", name="Search", exact=True).click()
    ids = page.locator(".hits .hit-id code").all_inner_texts()
    assert ids[:2] in (["pg", "redis"], ["redis", "pg"]), ids
    expect(page.locator("pre.sql")).to_contain_text("-- keyword list")
    assert dialogs == []  # no script from the data ever ran
