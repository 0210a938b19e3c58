"""The collections page in a browser: namespaces with their collections, create one, delete one after
confirming, flash messages; and the keyboard can reach every control."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from pgsimilar import Client

from .conftest import capture, new_name


def test_create_then_delete_a_collection(page: Page, client: Client, pictures: str) -> None:
    name = new_name("created")
    page.goto("/")
    expect(page.get_by_role("heading", name="Namespace default")).to_be_visible()
    row = page.locator("tr", has=page.get_by_role("link", name=pictures, exact=True))
    expect(row).to_contain_text("12")
    expect(row).to_contain_text("text + images")
    expect(row).to_contain_text("HNSW built")
    capture(page, "collections")

    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Embedder").select_option("minilm")
    page.get_by_label("Metric").select_option("l2")
    page.get_by_role("button", name="Create collection").click()
    expect(page.locator(".flash-success")).to_have_text(
        f"Created collection default/{name} (minilm, 384 dimensions, l2)."
    )
    created = page.locator("tr", has=page.get_by_role("link", name=name, exact=True))
    expect(created).to_contain_text("l2")
    assert client.get_collection(name).metric.value == "l2"

    page.get_by_label("Name", exact=True).fill(name)  # the same name again
    page.get_by_label("Metric").select_option("inner_product")
    page.get_by_role("button", name="Create collection").click()
    expect(page.locator(".flash-error")).to_contain_text(f"Could not create collection default/{name}")
    expect(page.locator(".flash-error")).to_contain_text("exists")
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)  # the form is filled again
    expect(page.get_by_label("Metric")).to_have_value("inner_product")

    created.get_by_role("link", name=f"Delete default/{name}").click()
    expect(page.get_by_role("heading", name=f"Delete default/{name}?")).to_be_visible()
    capture(page, "confirm-delete")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()  # nothing happened

    page.locator("tr", has=page.get_by_role("link", name=name, exact=True)).get_by_role(
        "link", name=f"Delete default/{name}"
    ).click()
    page.get_by_role("button", name="Delete collection").click()
    expect(page.locator(".flash-success")).to_have_text(f"Deleted collection default/{name} and its records.")
    expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    assert client.drop_collection(name, missing_ok=True) is False


def test_an_empty_name_is_refused_with_a_flash(page: Page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Create collection").click()
    expect(page.locator(".flash-error")).to_contain_text("invalid collection name ''")
    capture(page, "collections-error")


def focus_order(page: Page, presses: int) -> list[str]:
    """What the Tab key reaches, in order: each control's id, or its text for links and buttons."""
    reached = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                """() => {
                    const el = document.activeElement;
                    const style = getComputedStyle(el);
                    if (style.outlineStyle === "none" || parseFloat(style.outlineWidth) < 2) {
                        return "NO VISIBLE FOCUS: " + (el.id || el.textContent.trim());
                    }
                    return el.id || el.textContent.trim().replace(/\\s+/g, " ");
                }"""
            )
        )
    return reached


def test_the_keyboard_reaches_every_control_with_a_visible_focus(page: Page, pictures: str) -> None:
    page.goto(f"/ns/default/c/{pictures}")
    reached = focus_order(page, 16)
    assert reached[0] == "Skip to main content"
    assert not [item for item in reached if item.startswith("NO VISIBLE FOCUS")], reached
    for control in ("q", "image", "Search by picture", "filter-1", "filter-2", "k", "exact-no"):
        assert control in reached, (control, reached)
    assert reached.index("q") < reached.index("image") < reached.index("k")

    # The skip link moves focus to the main content, and Enter in the text box searches.
    page.goto(f"/ns/default/c/{pictures}")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.get_by_label("Describe the picture you are looking for").fill("a musical instrument")
    page.keyboard.press("Enter")
    expect(page.locator("#results-heading")).to_contain_text("for a musical instrument")
    page.get_by_role("link", name="Similar to Electric guitar").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#results-heading")).to_contain_text("like music/electric_guitar_andrea__01r.png")

    page.goto("/")
    reached = focus_order(page, 12)
    assert "Product demo" in reached and "Search" in reached

    page.goto("/demo/products")
    reached = focus_order(page, 6)
    assert "Product demo" in reached


def test_an_unknown_collection_is_a_404_page(page: Page) -> None:
    response = page.goto("/ns/default/c/no-such-collection")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found (404)")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Collection 'no-such-collection' does not exist")
    capture(page, "not-found")
