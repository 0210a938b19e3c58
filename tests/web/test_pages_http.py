"""The web UI's server side over plain HTTP: error pages and flash messages with the right status
(never a 500), escaping of stored content, cookies and headers, CSRF, and the API left as it was."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from pgsimilar import Client

from ..test_serve import Server
from .conftest import new_name

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def http(web_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_server.url, timeout=60, headers={"Accept": "text/html"}) as session:
        yield session


@pytest.fixture(scope="module")
def marked_up(client: Client) -> Iterator[str]:
    """A collection whose content, metadata and ids carry markup."""
    name = new_name("markup")
    collection = client.create_collection(name)
    collection.upsert(
        [
            {"id": "plain", "text": "An ordinary note about gardens.", "metadata": {"kind": "note", "n": 1}},
            {"id": "tagged", "text": f"{SCRIPT} gardens and flowers", "metadata": {"kind": SCRIPT, "n": 2}},
            {
                "id": '"><img src=x onerror=alert(1)>',
                "text": "Roses in the garden.",
                "metadata": {"kind": "note"},
            },
        ]
    )
    yield name
    client.drop_collection(name, missing_ok=True)


def csrf(http: httpx.Client) -> str:
    page = http.get("/")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+" role="\w+">(.*?)</p>', html, flags=re.S)


def test_stored_markup_is_shown_as_text(http: httpx.Client, marked_up: str) -> None:
    for query in ({}, {"q": "gardens"}):
        page = http.get(f"/ns/default/c/{marked_up}", params=query)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    # The markup is also a dropdown value (kind), escaped in the option and its label.
    assert '<option value="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;">' in page.text
    chosen = http.get(f"/ns/default/c/{marked_up}", params={"q": "gardens", "f.kind": SCRIPT})
    assert chosen.status_code == 200
    assert re.findall(r"<code>([^<]*)</code></p>", chosen.text) == ["tagged"]


def test_pages_carry_a_strict_content_security_policy(http: httpx.Client) -> None:
    page = http.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert 'lang="en"' in page.text and 'href="#main"' in page.text
    css = http.get("/static/pgsimilar.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert http.get("/static/pgsimilar.js").status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x", "filter": "{bad"}, "The filter is not valid JSON"),
        ({"q": "x", "filter": "[1]"}, "The filter must be a JSON object"),
        ({"q": "x", "filter": '{"n": {"$near": 1}}'}, "$near"),
        ({"q": "x", "min.n": "lots"}, "The minimum of n must be a number"),
        ({"q": "x", "k": "0"}, "The number of results must be from 1 to 100"),
        ({"q": "x", "mode": "fuzzy"}, "Unknown search mode"),
        ({"q": "  "}, "The search text is empty"),
        ({"similar": "nobody"}, "No record with id"),
        ({"q": "a\x00b", "mode": "keyword"}, ""),
    ],
    ids=["json", "not-object", "operator", "minimum", "k", "mode", "empty", "similar", "nul"],
)
def test_bad_search_input_is_a_message_not_a_500(
    http: httpx.Client, marked_up: str, params: dict[str, str], message: str
) -> None:
    page = http.get(f"/ns/default/c/{marked_up}", params=params)
    assert page.status_code in (400, 404), page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Traceback" not in page.text
    assert message in page.text
    assert 'id="q"' in page.text or "Invalid request" in page.text  # the form is there to fix it


def test_unknown_collections_and_pages_are_404_pages(http: httpx.Client) -> None:
    missing = http.get("/ns/default/c/no-such-collection")
    assert missing.status_code == 404
    assert "Not found" in missing.text and "does not exist" in missing.text
    assert http.get("/ns/no-such-namespace/c/x").status_code == 404
    assert http.get("/ns/default/c/BAD NAME").status_code == 400
    page = http.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    # The API keeps answering JSON, whatever the client accepts.
    api = http.get("/v1/namespaces/default/collections/no-such-collection")
    assert api.status_code == 404 and api.json()["error"]["code"] == "collection_not_found"
    assert http.get("/no/such/page", headers={"Accept": "*/*"}).json()["error"]["code"] == "not_found"


def test_a_refused_form_redirects_with_a_signed_one_shot_flash(http: httpx.Client) -> None:
    token = csrf(http)
    answer = http.post("/collections", data={"csrf": token, "namespace": "default", "name": ""})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/?namespace=default&name=&")
    flash_cookie = answer.headers["set-cookie"]
    assert flash_cookie.startswith("pgsimilar_flash=")
    assert "HttpOnly" in flash_cookie and "SameSite=strict" in flash_cookie
    shown = http.get(answer.headers["location"])
    assert any("invalid collection name &#39;&#39;" in text for text in flashes(shown.text))
    assert flashes(http.get("/").text) == []  # shown once
    http.cookies.set("pgsimilar_flash", "eyJ4Ijp9.forged")
    assert flashes(http.get("/").text) == []  # a cookie not signed by the server says nothing


def test_forms_need_the_csrf_token(http: httpx.Client) -> None:
    refused = http.post("/collections", data={"namespace": "default", "name": "sneaky"})
    assert refused.status_code == 403
    token = csrf(http)
    wrong = http.post("/demo/products/load", data={"csrf": token + "x"})
    assert wrong.status_code == 403


def test_pictures_are_served_by_the_ui(http: httpx.Client, pictures: str) -> None:
    thumbnail = http.get(f"/ns/default/c/{pictures}/thumbnail", params={"id": "kitchen/teapot_ganson.png"})
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/webp"
    original = http.get(f"/ns/default/c/{pictures}/image", params={"id": "kitchen/teapot_ganson.png"})
    assert original.status_code == 200 and original.headers["content-type"] == "image/png"
    assert http.get(f"/ns/default/c/{pictures}/image", params={"id": "nobody"}).status_code == 404
    upload = http.post(f"/ns/default/c/{pictures}/image-search", files={"image": ("x.png", b"not a picture")})
    assert upload.status_code == 400 and "Traceback" not in upload.text


def test_the_demo_refuses_an_unknown_product(http: httpx.Client) -> None:
    token = csrf(http)
    answer = http.post("/demo/products/add", data={"csrf": token, "product": "flying-car"})
    assert answer.status_code == 303
    shown = http.get(answer.headers["location"])
    assert "There is no product &#39;flying-car&#39; to add." in flashes(shown.text)
