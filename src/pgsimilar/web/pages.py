"""Rendering pages: the Jinja2 environment (autoescaped), the context every page gets (who is signed
in, flash messages, the CSRF token) and the headers every page carries."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .. import __version__
from .session import (
    CSRF_COOKIE,
    FLASH_COOKIE,
    Flash,
    csrf_token,
    delete_cookie,
    read_flash,
    set_cookie,
    set_flash,
)

# Pages load only our own files; images may also be data: (the preview of an uploaded picture) and
# blob: (the preview the script shows before upload). No inline script or style is needed anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def collection_url(namespace: str, name: str, suffix: str = "", **params: Any) -> str:
    """The page of a collection (``suffix`` e.g. ``/delete``), with query ``params`` (None left out)."""
    url = f"/ns/{quote(namespace, safe='')}/c/{quote(name, safe='')}{suffix}"
    return with_query(url, params)


def with_query(url: str, params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    items = params.items() if isinstance(params, Mapping) else params
    kept = [
        (key, "true" if value is True else str(value)) for key, value in items if value not in (None, False)
    ]
    return f"{url}?{urlencode(kept)}" if kept else url


def _number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def _plain(value: float | None) -> str:
    """A number as people write it: 1996, 34.5, 0.25 (not 1996.0)."""
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _snippet(text: str | None, length: int = 280) -> str:
    """The start of ``text``, cut at a word boundary."""
    if not text:
        return ""
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0]
    return f"{cut}…"


def _money(value: float) -> str:
    return "—" if not math.isfinite(value) else f"${value:,.2f}"


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment, built on first use (autoescaping on for every template)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pgsimilar.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["score"] = lambda value: _number(value, 3)
    env.filters["distance"] = lambda value: _number(value, 4)
    env.filters["ms"] = lambda value: _number(value, 1)
    env.filters["plain"] = _plain
    env.filters["snippet"] = _snippet
    env.filters["money"] = _money
    env.globals.update(collection_url=collection_url, with_query=with_query, version=__version__)
    return env


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    flashes: Iterable[Flash] = (),
) -> HTMLResponse:
    """A page: ``template`` with ``context``, the signed-in key, pending and given flash messages and
    the CSRF token for its forms."""
    pending = read_flash(request)
    token, new_token = csrf_token(request)
    html = (
        environment()
        .get_template(template)
        .render(
            {
                "request": request,
                "viewer": getattr(request.state, "viewer", None),
                "auth_enabled": bool(request.app.state.auth_enabled),
                "flashes": [*([pending] if pending else []), *flashes],
                "csrf": token,
                "path": request.url.path,
                **(context or {}),
            }
        )
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if new_token:
        set_cookie(request, response, CSRF_COOKIE, token)
    if FLASH_COOKIE in request.cookies:
        delete_cookie(request, response, FLASH_COOKIE)
    return response


def redirect(request: Request, url: str, flash: Flash | None = None) -> RedirectResponse:
    """POST-redirect-GET: send the browser to ``url`` (303: it follows with a GET), with a flash."""
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        set_flash(request, response, flash)
    return response
