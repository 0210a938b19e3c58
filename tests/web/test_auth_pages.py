"""API keys in the web UI (a second server with PGSIMILAR_AUTH=on): the login page, a wrong key
refused, a key that sees only its namespace, a read-only key that cannot create, and logging out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from pgsimilar import Client
from pgsimilar.config import Settings
from pgsimilar.core.keys import Scope

from ..test_serve import Server, server_env, start
from .conftest import DESKTOP, TIMEOUT_MS, capture, new_name


@dataclass(frozen=True)
class Keys:
    read_namespace: str
    write_namespace: str
    read: str
    read_write: str


@pytest.fixture(scope="module")
def auth_server(
    client: Client, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("web-auth") / "server.log"
    yield from start([], server_env(settings, PGSIMILAR_AUTH="on"), log)


@pytest.fixture(scope="module")
def keys(client: Client) -> Iterator[Keys]:
    read_namespace, write_namespace = new_name("readers"), new_name("writers")
    for namespace in (read_namespace, write_namespace):
        client.create_namespace(namespace)
    client.create_collection("shelf", namespace=read_namespace, embedder="none", dimensions=3)
    read_key, read = client.keys.create(Scope.READ, namespace=read_namespace, name="reader")
    write_key, read_write = client.keys.create(Scope.READ_WRITE, namespace=write_namespace, name="writer")
    yield Keys(read_namespace, write_namespace, read, read_write)
    for key in (read_key, write_key):
        client.keys.revoke(key.id)
    for namespace in (read_namespace, write_namespace):
        client.drop_namespace(namespace, cascade=True)


@pytest.fixture
def tab(browser: Browser, auth_server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=auth_server.url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def sign_in(page: Page, secret: str) -> None:
    page.get_by_label("API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_login_with_a_read_key_sees_its_namespace_only_and_cannot_create(tab: Page, keys: Keys) -> None:
    tab.goto("/")
    expect(tab).to_have_url(tab.url.split("/login")[0] + "/login?next=/")
    capture(tab, "login")
    sign_in(tab, "psk_not-a-real-key")
    expect(tab.locator(".flash-error")).to_have_text("That API key is unknown or revoked.")

    sign_in(tab, keys.read)
    expect(tab.locator(".flash-success")).to_contain_text(f"read on namespace '{keys.read_namespace}'")
    expect(tab.get_by_role("heading", name=f"Namespace {keys.read_namespace}")).to_be_visible()
    expect(tab.locator("h2", has_text="Namespace")).to_have_count(1)  # not default, not the other one
    expect(tab.locator(".session")).to_contain_text("reader")
    expect(tab.get_by_role("link", name=f"Delete {keys.read_namespace}/shelf")).to_have_count(0)

    tab.get_by_label("Name", exact=True).fill("not-allowed")
    tab.get_by_role("button", name="Create collection").click()
    expect(tab.locator(".flash-error")).to_contain_text(
        f"Not allowed: this key may only read namespace '{keys.read_namespace}'"
    )
    capture(tab, "collections-read-only")

    # Pages of other namespaces read as missing, exactly as in the API.
    tab.goto("/ns/default/c/anything")
    expect(tab.get_by_role("heading", name="Not found (404)")).to_be_visible()
    tab.goto("/demo/products")
    expect(tab.get_by_role("heading", name="Not found (404)")).to_be_visible()

    tab.get_by_role("button", name="Log out").click()
    expect(tab.locator(".flash-info")).to_have_text("Signed out.")
    tab.goto(f"/ns/{keys.read_namespace}/c/shelf")
    expect(tab.get_by_label("API key")).to_be_visible()
    sign_in(tab, keys.read)  # and back to the page that was asked for
    expect(tab.get_by_role("heading", name=f"{keys.read_namespace}/shelf")).to_be_visible()


def test_a_read_write_key_creates_and_deletes_in_its_namespace(tab: Page, keys: Keys, client: Client) -> None:
    tab.goto("/login")
    sign_in(tab, keys.read_write)
    tab.get_by_label("Name", exact=True).fill("notes")
    tab.get_by_role("button", name="Create collection").click()
    expect(tab.locator(".flash-success")).to_contain_text(f"Created collection {keys.write_namespace}/notes")
    tab.get_by_role("link", name=f"Delete {keys.write_namespace}/notes").click()
    tab.get_by_role("button", name="Delete collection").click()
    expect(tab.locator(".flash-success")).to_contain_text("Deleted collection")
    assert client.list_collections(keys.write_namespace) == []


def test_the_key_cookie_is_http_only_and_same_site_strict(auth_server: Server, keys: Keys) -> None:
    with httpx.Client(base_url=auth_server.url, timeout=30) as http:
        login = http.get("/login")
        assert "HttpOnly" in login.headers["set-cookie"] and "SameSite=strict" in login.headers["set-cookie"]
        token = http.cookies["pgsimilar_csrf"]
        answer = http.post("/login", data={"key": keys.read, "csrf": token, "next": "//elsewhere.example/"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"  # never off the site
        cookies = answer.headers.get_list("set-cookie")
        key_cookie = next(cookie for cookie in cookies if cookie.startswith("pgsimilar_key="))
        assert keys.read in key_cookie
        assert "HttpOnly" in key_cookie and "SameSite=strict" in key_cookie and "Path=/" in key_cookie
        assert "Secure" not in key_cookie  # plain http here; over https the cookie is Secure
        assert http.get("/").status_code == 200
        # A form without this browser's CSRF token is refused, even with a valid key.
        refused = http.post("/collections", data={"namespace": keys.write_namespace, "name": "x"})
        assert refused.status_code == 403
        assert "not sent from this site" in refused.text

    # Behind a TLS proxy on this machine (uvicorn trusts X-Forwarded-Proto from loopback): Secure too.
    with httpx.Client(base_url=auth_server.url, timeout=30, headers={"X-Forwarded-Proto": "https"}) as http:
        csrf_cookie = http.get("/login").headers["set-cookie"]
        assert "Secure" in csrf_cookie
        token = http.cookies["pgsimilar_csrf"]  # kept, but a Secure cookie is not sent over http:
        answer = http.post(
            "/login", data={"key": keys.read, "csrf": token}, headers={"Cookie": f"pgsimilar_csrf={token}"}
        )
        key_cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("pgsimilar_key="))
        assert "Secure" in key_cookie and "HttpOnly" in key_cookie


def test_api_keys_still_guard_the_api(auth_server: Server) -> None:
    assert httpx.get(f"{auth_server.url}/v1/namespaces", timeout=30).status_code == 401
