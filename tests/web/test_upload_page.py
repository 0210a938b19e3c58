"""The upload page in a browser: an archive of Fashion-MNIST pictures is sent to a collection, the job's
page shows the progress bar moving until 100%, the failed member is listed by name, and the pictures
can be searched afterwards."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from pgsimilar import Client

from ..fashion_mnist import zip_of_pngs
from ..test_serve import Server
from .conftest import capture, new_name

PICTURES = 48


@pytest.fixture
def wardrobe(client: Client) -> Iterator[str]:
    name = new_name("wardrobe")
    client.create_collection(name, embedder="minilm-vision")
    yield name
    client.drop_collection(name, missing_ok=True)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    data, _, _ = zip_of_pngs(PICTURES)
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as extended:
        extended.writestr("../outside.png", b"not even a picture")
    path = tmp_path / "wardrobe.zip"
    path.write_bytes(buffer.getvalue())
    return path


def test_an_upload_shows_live_progress_to_100_percent(
    page: Page, wardrobe: str, archive: Path, client: Client
) -> None:
    page.goto("/uploads")
    page.get_by_label("Collection").select_option(f"default/{wardrobe}")
    page.get_by_label("Files").set_input_files(archive)
    page.get_by_label("Metadata for every item").fill('{"shelf": "top"}')
    capture(page, "upload")
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.locator(".flash-success")).to_contain_text("Upload queued as job")
    progress = page.locator("#job-progress")
    first_seen = progress.evaluate("bar => bar.value")
    assert first_seen < 100, "the job was already done when its page first showed: nothing to watch"
    expect(progress).to_have_js_property("value", 100, timeout=180_000)
    expect(page.locator("#job-percent")).to_have_text("100%")
    expect(page.locator("#job-status")).to_have_text("partially failed")
    expect(page.locator("#job-counts")).to_have_text(f"{PICTURES} stored, 1 failed of {PICTURES + 1}")
    failed = page.locator("#job-errors tr")
    expect(failed).to_have_count(1)
    expect(failed.first).to_contain_text("../outside.png")
    expect(failed.first).to_contain_text("wardrobe.zip")
    capture(page, "job-done")

    page.get_by_role("link", name=f"Search {wardrobe}").click()
    expect(page.locator(".results .tile")).to_have_count(24)  # the page lists the first stored pictures
    assert client.get_collection(wardrobe).count() == PICTURES

    page.goto("/uploads")
    expect(page.locator("table").first).to_contain_text(f"default/{wardrobe}")


def test_an_upload_without_files_or_with_bad_metadata_is_refused(
    page: Page, wardrobe: str, archive: Path
) -> None:
    page.goto(f"/ns/default/c/{wardrobe}")
    page.get_by_role("link", name="Upload files to it").click()
    expect(page.get_by_label("Collection")).to_have_value(f"default/{wardrobe}")
    page.get_by_role("button", name="Upload", exact=True).click()  # no files chosen
    expect(page.get_by_label("Files")).to_have_js_property("validity.valueMissing", True)
    page.get_by_label("Files").set_input_files(archive)
    page.get_by_label("Metadata for every item").fill("[1, 2]")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".flash-error")).to_contain_text("the metadata must be a JSON object")
    expect(page.get_by_label("Collection")).to_have_value(f"default/{wardrobe}")


def test_job_pages_of_unknown_jobs_are_404(web_server: Server) -> None:
    with httpx.Client(base_url=web_server.url, headers={"Accept": "text/html"}) as http:
        assert http.get("/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
        assert http.get("/jobs/not-a-job").status_code == 404
        assert http.get("/jobs/not-a-job/status").status_code == 404
