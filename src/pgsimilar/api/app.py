"""The FastAPI application, built by :func:`create_app` (nothing is configured or connected at import)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from .. import __version__
from ..config import Settings
from ..core.client import Client
from ..core.worker import WorkerThreads
from ..web import install_web
from .errors import install_error_handlers
from .limits import BodySizeLimit
from .metrics import Metrics, MetricsMiddleware
from .routers import collections, compat, evaluation, health, indexes, jobs, namespaces, records, search
from .schemas import ERROR_RESPONSES


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_required(settings: Settings, host: str | None) -> bool:
    """API keys are required unless turned off explicitly, or (``auto``) the server binds to loopback."""
    if settings.auth == "on":
        return True
    if settings.auth == "off":
        return False
    return host is None or not is_loopback(host)


def create_app(
    settings: Settings | None = None, *, client: Client | None = None, host: str | None = None
) -> FastAPI:
    """The pgsimilar service. ``client`` is opened from ``settings`` at startup unless given; ``host`` is
    the bind address, which decides authentication when ``settings.auth`` is ``auto``."""
    settings = settings or (client.settings if client else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_client = client is None
        app.state.client = client or await anyio.to_thread.run_sync(lambda: Client(settings=settings))
        workers = WorkerThreads(app.state.client, settings.job_workers)
        workers.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(workers.stop)
            if own_client:
                app.state.client.close()

    app = FastAPI(
        title="pgsimilar",
        version=__version__,
        summary="Semantic similarity search for text and images on PostgreSQL + pgvector.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.client = None
    app.state.settings = settings
    app.state.auth_enabled = auth_required(settings, host)
    app.state.limiter = anyio.CapacityLimiter(settings.api_threads)
    app.state.metrics = Metrics(lambda: app.state.client)

    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )

    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_request_bytes, upload_max_bytes=settings.max_upload_bytes
    )

    for module in (namespaces, collections, indexes, records, search, evaluation, compat, jobs, health):
        app.include_router(module.router)
    app.include_router(jobs.uploads_router)

    # The web UI: pages at / (the API keeps /v1, /docs, /health, ...), static files at /static.
    install_web(app)

    return app
