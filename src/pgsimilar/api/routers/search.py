"""``POST .../collections/{name}/search``: by text, vector or stored record, with filters."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Request

from ...core.client import Client
from ...errors import UnsupportedModality
from ..deps import ClientDep, ReadNamespace, run_blocking
from ..schemas import ExplainPublic, HitPublic, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1/namespaces/{ns}/collections/{name}", tags=["search"])
CollectionName = Annotated[str, Path(description="Collection name")]


def _search(client: Client, ns: str, name: str, body: SearchRequest) -> SearchResponse:
    collection = client.get_collection(name, namespace=ns)
    if body.image is not None:
        raise UnsupportedModality(
            f"the {collection.info.embedder!r} embedder of {ns}/{name} does not embed images"
        )
    results = collection.search(
        text=body.text,
        vector=body.vector,
        id=body.id,
        k=body.k,
        filter=body.filter,
        exact=body.exact,
        ef_search=body.ef_search,
        probes=body.probes,
        min_score=body.min_score,
        explain=body.explain,
    )
    vectors: dict[str, list[float]] = {}
    if "vector" in body.include and results.hits:
        for record in collection.get_many(results.ids, include_vectors=True):
            if record.vector is not None:
                vectors[record.id] = [float(value) for value in record.vector]
    hits = [
        HitPublic(
            id=hit.id,
            score=hit.score,
            distance=hit.distance,
            metadata=hit.metadata if "metadata" in body.include else None,
            content=hit.content if "content" in body.include else None,
            vector=vectors.get(hit.id),
        )
        for hit in results
    ]
    explain = None if results.explain is None else ExplainPublic(**results.explain.__dict__)
    return SearchResponse(data=hits, count=len(hits), explain=explain)


@router.post("/search", response_model=SearchResponse, response_model_exclude_none=True)
async def search(
    request: Request, ns: ReadNamespace, name: CollectionName, body: SearchRequest, client: ClientDep
) -> SearchResponse:
    """The ``k`` nearest records to ``text``, ``vector`` or the stored record ``id`` (give exactly one)."""
    started = time.perf_counter()
    response = await run_blocking(request, _search, client, ns, name, body)
    request.app.state.metrics.search_seconds.observe(time.perf_counter() - started)
    return response
