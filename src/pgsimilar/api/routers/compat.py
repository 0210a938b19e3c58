"""Compatibility endpoints, exactly as their users call them: ``POST /embed`` and ``POST /search/pgvector``.

Both work on one collection of the ``default`` namespace (``PGSIMILAR_COMPAT_COLLECTION``, created on
first use with ``PGSIMILAR_COMPAT_EMBEDDER``). ``score`` in ``/search/pgvector`` is the distance, ascending.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ...config import Settings
from ...core.client import DEFAULT_NAMESPACE, Client
from ...core.collection import Collection
from ...errors import CollectionNotFound
from ..deps import CallerDep, ClientDep, check_readable, check_writable, run_blocking
from ..schemas import (
    EmbedRequest,
    EmbedResponse,
    PgvectorHit,
    PgvectorSearchRequest,
    PgvectorSearchResponse,
)

router = APIRouter(tags=["compatibility"])


def _collection(client: Client, settings: Settings, *, create: bool) -> Collection | None:
    try:
        return client.get_collection(settings.compat_collection, namespace=DEFAULT_NAMESPACE)
    except CollectionNotFound:
        if not create:
            return None
        return client.create_collection(
            settings.compat_collection,
            namespace=DEFAULT_NAMESPACE,
            embedder=settings.compat_embedder,
            exist_ok=True,
        )


def _embed(client: Client, settings: Settings, body: EmbedRequest) -> EmbedResponse:
    collection = _collection(client, settings, create=True)
    assert collection is not None
    collection.upsert([{"id": body.chunkId, "text": body.text}])
    return EmbedResponse(
        chunkId=body.chunkId, dimensions=collection.dimensions, model=collection.embedder.model_id
    )


@router.post("/embed", response_model=EmbedResponse)
async def embed(request: Request, body: EmbedRequest, client: ClientDep, caller: CallerDep) -> EmbedResponse:
    """Embed ``text`` and store it under ``chunkId`` (replacing an earlier chunk of that id)."""
    check_writable(check_readable(DEFAULT_NAMESPACE, caller), caller)
    return await run_blocking(request, _embed, client, request.app.state.settings, body)


def _search(client: Client, settings: Settings, body: PgvectorSearchRequest) -> PgvectorSearchResponse:
    collection = _collection(client, settings, create=False)
    if collection is None:  # nothing embedded yet
        return PgvectorSearchResponse(results=[])
    results = collection.search(text=body.query, k=body.limit, metric=body.distance)
    return PgvectorSearchResponse(
        results=[PgvectorHit(chunkId=hit.id, score=hit.distance or 0.0) for hit in results]
    )


@router.post("/search/pgvector", response_model=PgvectorSearchResponse)
async def search_pgvector(
    request: Request, body: PgvectorSearchRequest, client: ClientDep, caller: CallerDep
) -> PgvectorSearchResponse:
    """The ``limit`` nearest chunks to ``query`` by ``distance`` (cosine ``<=>``, l2 ``<->``,
    inner_product ``<#>``); ``score`` is that distance, smallest first."""
    check_readable(DEFAULT_NAMESPACE, caller)
    return await run_blocking(request, _search, client, request.app.state.settings, body)
