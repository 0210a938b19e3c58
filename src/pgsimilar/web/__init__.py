"""The web UI: server-rendered pages (Jinja2) with a little JavaScript of our own, served by the API's
process at ``/``. It works offline: every file it loads is in this package.

Pages call the core on the API's worker threads (``run_blocking``), never on the event loop; forms
post, then redirect with a flash message (POST-redirect-GET).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .routes import auth, collections, demo, search, uploads
from .routing import install_not_found_page
from .session import new_secret

STATIC_PATH = "/static"


def install_web(app: FastAPI) -> None:
    """Add the UI to ``app``: its pages, its static files and a page for unknown paths. Call it after
    the API's error handlers are installed."""
    app.state.web_secret = new_secret()  # signs flash messages; a restart only drops pending ones
    app.mount(STATIC_PATH, StaticFiles(packages=[("pgsimilar.web", "static")]), name="web-static")
    for module in (collections, search, demo, uploads, auth):
        app.include_router(module.router)
    install_not_found_page(app)


__all__ = ["install_web"]
