"""``POST .../collections/{name}/search`` (text, vector, image or stored record) and ``.../search/image``."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, UploadFile

from ...core.client import Client
from ...errors import InvalidFilter, InvalidInput
from ..deps import ClientDep, ReadNamespace, run_blocking
from ..images import decode_base64_image, image_urls
from ..schemas import ExplainPublic, HitPublic, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1/namespaces/{ns}/collections/{name}", tags=["search"])
CollectionName = Annotated[str, Path(description="Collection name")]


def _search(
    client: Client, ns: str, name: str, body: SearchRequest, image: bytes | None = None
) -> SearchResponse:
    collection = client.get_collection(name, namespace=ns)
    if body.image is not None:
        image = decode_base64_image(body.image, "image")
    results = collection.search(
        text=body.text,
        vector=body.vector,
        id=body.id,
        image=image,
        k=body.k,
        filter=body.filter,
        exact=body.exact,
        ef_search=body.ef_search,
        probes=body.probes,
        rerank=body.rerank,
        min_score=body.min_score,
        mode=body.mode,
        rrf_k=body.rrf_k,
        weights=body.weights,
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
            **(image_urls(ns, name, hit.id) if hit.has_image else {}),
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


@router.post("/search/image", response_model=SearchResponse, response_model_exclude_none=True)
async def search_by_image(
    request: Request,
    ns: ReadNamespace,
    name: CollectionName,
    client: ClientDep,
    file: Annotated[UploadFile, File(description="The reference image")],
    k: Annotated[int, Form(ge=1, le=1000)] = 10,
    filter: Annotated[str | None, Form(description="Metadata filter as JSON")] = None,
    exact: Annotated[bool, Form()] = False,
    min_score: Annotated[float | None, Form(allow_inf_nan=False)] = None,
) -> SearchResponse:
    """The ``k`` records nearest to an uploaded image (collections with an image embedder)."""
    try:
        parsed_filter = None if filter is None else json.loads(filter)
    except json.JSONDecodeError as exc:
        raise InvalidFilter(f"filter is not valid JSON: {exc.msg}") from exc
    if parsed_filter is not None and not isinstance(parsed_filter, dict):
        raise InvalidFilter("filter must be a JSON object")
    body = SearchRequest(k=k, filter=parsed_filter, exact=exact, min_score=min_score)
    image = await file.read()
    if not image:
        raise InvalidInput("the uploaded image is empty")
    started = time.perf_counter()
    response = await run_blocking(request, _search, client, ns, name, body, image)
    request.app.state.metrics.search_seconds.observe(time.perf_counter() - started)
    return response
