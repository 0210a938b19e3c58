"""``/health`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import AdminDep, ClientDep, run_blocking
from ..schemas import HealthPublic

router = APIRouter(tags=["operations"])


def _database_ok(request: Request) -> bool:
    try:
        with request.app.state.client.database.connection() as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(request: Request, client: ClientDep) -> JSONResponse:
    """Whether the database answers, and which models this process has loaded."""
    database_ok = await run_blocking(request, _database_ok, request)
    body = HealthPublic(
        status="ok" if database_ok else "unavailable",
        database="ok" if database_ok else "unreachable",
        models=client.loaded_models(),
    )
    return JSONResponse(body.model_dump(), status_code=200 if database_ok else 503)


@router.get("/metrics", response_class=Response, dependencies=[AdminDep])
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format). They name every collection, so with API keys on
    they need an admin key (Prometheus sends it as a bearer token)."""
    payload = await run_blocking(request, generate_latest, request.app.state.metrics.registry)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
