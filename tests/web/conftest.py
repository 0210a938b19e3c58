"""Fixtures of the web UI tests: a real ``pgsimilar serve`` on loopback over the session's database,
one headless Debian Chromium driven by Playwright, the collections the pages show, and screenshots.

Chromium comes from Debian (``apt-get install chromium``), never from Playwright's own download.
"""

from __future__ import annotations

import base64
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from pgsimilar import Client
from pgsimilar.config import Settings
from pgsimilar.demo import sample_images

from ..test_serve import Server, server_env, start

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Waits allow for a busy machine (the server's models are loaded before the browser tests start).
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)

# A few demo pictures of each kind: enough for text-to-image, image-to-image and category filters.
PICTURES = (
    "animals/emperor_penguin_ralf_ste_01.png",
    "animals/orca_matthew_gates_r.png",
    "animals/butterfly_jonvdveen_01.png",
    "music/guitar_ganson.png",
    "music/electric_guitar_andrea__01r.png",
    "music/piano_geraint_luff_01.png",
    "music/saxophone_jarno_vasamaa.png",
    "kitchen/teacup_ganson.png",
    "kitchen/teapot_ganson.png",
    "transport/bicycle_philippe_colin_01.png",
    "transport/airplane_nicu_buculei_01.png",
    "plants/van_gogh_s_sun_flower_en_01.png",
)


def new_name(prefix: str = "web") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def web_server(
    client: Client, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``pgsimilar serve`` on 127.0.0.1 (API keys off, as on a laptop), on the session's database."""
    log = tmp_path_factory.mktemp("web-serve") / "server.log"
    yield from start([], server_env(settings), log)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the web UI tests drive Debian's Chromium. "
            "Install it with `apt-get install chromium` (never `playwright install`)."
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser, web_server: Server) -> Iterator[Page]:
    """A fresh browser context (no cookies) at desktop size, its URLs relative to the server."""
    context = browser.new_context(base_url=web_server.url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def no_horizontal_scroll(tab: Page) -> bool:
    return bool(tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def capture(tab: Page, name: str) -> None:
    """Screenshots of the page at desktop and phone width; at phone width nothing may scroll sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = tab.viewport_size or DESKTOP
    tab.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    tab.set_viewport_size(PHONE)
    try:
        width = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert no_horizontal_scroll(tab), f"{name}: the page scrolls sideways at 375 px ({width})"
        tab.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    finally:
        tab.set_viewport_size(size)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS.exists() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"web UI screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="session", autouse=True)
def fresh_screenshots() -> None:
    """Screenshots of this run only (a page that is no longer shot leaves no stale picture)."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)


def upload_pictures(server: Server, collection: str) -> None:
    """Store the pictures through the server's API: the server embeds them, so its models are loaded
    (once, in the process that needs them) before any browser test waits on a search."""
    pictures = {record.id: record for record in sample_images() if record.id in PICTURES}
    records = []
    for record_id in PICTURES:
        record = pictures[record_id]
        assert isinstance(record.image, Path)
        data = base64.b64encode(record.image.read_bytes()).decode("ascii")
        records.append({"id": record.id, "metadata": record.metadata, "image": data})
    path = f"{server.url}/v1/namespaces/default/collections/{collection}"
    with httpx.Client(timeout=600) as http:
        stored = http.put(f"{path}/records", json={"records": records})
        assert stored.status_code == 200, stored.text
        assert http.post(f"{path}/search", json={"text": "warm up", "k": 1}).status_code == 200


@pytest.fixture(scope="session")
def pictures(client: Client, web_server: Server) -> Iterator[str]:
    """A picture collection (minilm-vision) of a dozen demo pictures in namespace default."""
    name = new_name("pictures")
    client.create_collection(name, embedder="minilm-vision")
    upload_pictures(web_server, name)
    yield name
    client.drop_collection(name, missing_ok=True)
