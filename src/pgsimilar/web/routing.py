"""How web routes fail: as pages, never as JSON or a trace. A redirect with a flash message for a form
(POST-redirect-GET), the login page when a key is needed, and an error page with the fitting status
for everything else."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    AlreadyExists,
    DatabaseUnavailable,
    EmbedderError,
    EmbedderUnavailable,
    InvalidInput,
    NotFound,
    PgsimilarError,
)
from .pages import redirect, render
from .session import Flash, Level

logger = logging.getLogger("pgsimilar.web")

# Most specific first; the same statuses the API answers with.
_STATUS: tuple[tuple[type[PgsimilarError], int], ...] = (
    (NotFound, 404),
    (AlreadyExists, 409),
    (InvalidInput, 400),
    (DatabaseUnavailable, 503),
    (EmbedderUnavailable, 503),
    (EmbedderError, 502),
)
_TITLES = {400: "Invalid request", 403: "Not allowed", 404: "Not found", 409: "Already exists"}
# Paths of the API: a browser that asks for one of these still gets the API's JSON.
API_PREFIXES = ("/v1/", "/docs", "/redoc", "/openapi.json", "/health", "/metrics", "/embed", "/search/")


class Redirect(Exception):
    """Leave the page for ``url`` with a flash message (a form that was refused, or done)."""

    def __init__(self, url: str, flash: Flash | None = None) -> None:
        super().__init__(url)
        self.url, self.flash = url, flash

    @classmethod
    def error(cls, url: str, message: str) -> Redirect:
        return cls(url, Flash(Level.ERROR, message))


class LoginRequired(Exception):
    """API keys are on and the browser has no valid key: to the login page, and back afterwards."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class Forbidden(Exception):
    """A request the UI refuses outright (a form without this browser's CSRF token)."""


def status_of(exc: PgsimilarError) -> int:
    return next((status for kind, status in _STATUS if isinstance(exc, kind)), 500)


def error_page(request: Request, status: int, message: str) -> Response:
    title = _TITLES.get(status, "Something went wrong" if status >= 500 else "Error")
    return render(
        request, "error.html", {"title": title, "status": status, "message": message}, status=status
    )


def _web_error(request: Request, exc: Exception) -> Response | None:
    """The page for ``exc``, or None for an exception this module does not know."""
    if isinstance(exc, Redirect):
        return redirect(request, exc.url, exc.flash)
    if isinstance(exc, LoginRequired):
        return redirect(request, f"/login?next={quote(exc.next_url, safe='/')}")
    if isinstance(exc, Forbidden):
        return error_page(request, 403, str(exc))
    if isinstance(exc, PgsimilarError):
        status = status_of(exc)
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return error_page(request, status, str(exc))
    if isinstance(exc, RequestValidationError):
        fields = ", ".join(".".join(str(part) for part in error.get("loc", ())[1:]) for error in exc.errors())
        return error_page(request, 400, f"the form is incomplete or malformed ({fields or 'request'})")
    if isinstance(exc, psycopg.DataError):  # e.g. a NUL character that no check caught first
        return error_page(request, 400, f"the database refused the input: {exc}")
    return None


class WebRoute(APIRoute):
    """A route whose errors become pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = _web_error(request, exc)
                if response is not None:
                    return response
                if isinstance(exc, StarletteHTTPException):
                    raise
                logger.exception("unhandled error in %s %s", request.method, request.url.path)
                return error_page(request, 500, "an internal error happened; the server log says more")

        return page_handler


def install_not_found_page(app: FastAPI) -> None:
    """A browser that follows a wrong link gets a page (with the navigation) instead of JSON; API
    paths and API clients keep the JSON answer."""
    json_handler: Any = app.exception_handlers[StarletteHTTPException]

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 404 and wants_html and not request.url.path.startswith(API_PREFIXES):
            return error_page(request, 404, f"there is no page at {request.url.path}")
        response: Response = await json_handler(request, exc)
        return response

    app.add_exception_handler(StarletteHTTPException, handler)
