"""Signing in with an API key (when keys are on) and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ...api.deps import get_client, run_blocking
from ..access import Viewer, local_path
from ..actions import posted_form, text_field
from ..pages import redirect, render
from ..routing import WebRoute
from ..session import KEY_COOKIE, Flash, Level, delete_cookie, set_cookie

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _login_page(request: Request, next_url: str, *, error: str | None = None, status: int = 200) -> Response:
    flashes = [Flash(Level.ERROR, error)] if error else []
    return render(request, "login.html", {"next": next_url}, status=status, flashes=flashes)


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The login form (straight on to the page asked for when keys are off)."""
    next_url = local_path(request.query_params.get("next"))
    if not request.app.state.auth_enabled:
        return redirect(request, next_url)
    return _login_page(request, next_url)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the key with the key store; keep it in the session cookie if it is valid."""
    form = await posted_form(request)
    next_url = local_path(text_field(form, "next"))
    if not request.app.state.auth_enabled:
        return redirect(request, next_url)
    secret = text_field(form, "key")
    if not secret:
        return _login_page(request, next_url, error="Enter an API key.", status=400)
    key = await run_blocking(request, get_client(request).keys.authenticate, secret)
    if key is None:
        return _login_page(request, next_url, error="That API key is unknown or revoked.", status=401)
    request.state.viewer = Viewer(key=key)
    where = "every namespace" if key.namespace is None else f"namespace {key.namespace!r}"
    label = f" {key.name!r}" if key.name else ""
    message = f"Signed in with key{label} ({key.prefix}…): {key.scope.value} on {where}."
    response = redirect(request, next_url, Flash(Level.SUCCESS, message))
    # A session cookie: it ends with the browser, and the key itself stays valid until revoked.
    set_cookie(request, response, KEY_COOKIE, secret)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Forget the key."""
    await posted_form(request)
    response = redirect(request, "/login", Flash(Level.INFO, "Signed out."))
    delete_cookie(request, response, KEY_COOKIE)
    return response
