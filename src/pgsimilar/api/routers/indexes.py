"""``.../collections/{name}/index`` (build, replace, drop the approximate index) and ``.../tune``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from ...core.client import Client
from ..deps import ClientDep, WriteNamespace, run_blocking
from ..schemas import IndexBuildPublic, IndexSpec, TunePublic, TuneRequest
from .collections import index_state

router = APIRouter(prefix="/v1/namespaces/{ns}/collections/{name}", tags=["indexes"])
CollectionName = Annotated[str, Path(description="Collection name")]


def _build(client: Client, ns: str, name: str, body: IndexSpec) -> IndexBuildPublic:
    collection = client.get_collection(name, namespace=ns)
    build = collection.create_index(
        body.kind, m=body.m, ef_construction=body.ef_construction, lists=body.lists
    )
    return IndexBuildPublic(index=index_state(collection), seconds=build.seconds, size_bytes=build.size_bytes)


def _drop(client: Client, ns: str, name: str) -> None:
    client.get_collection(name, namespace=ns).drop_index()


def _tune(client: Client, ns: str, name: str, body: TuneRequest) -> TunePublic:
    result = client.get_collection(name, namespace=ns).tune(body.target_recall, k=body.k, sample=body.sample)
    return TunePublic.model_validate(result.to_dict())


@router.put("/index", response_model=IndexBuildPublic)
async def build_index(
    request: Request, ns: WriteNamespace, name: CollectionName, body: IndexSpec, client: ClientDep
) -> IndexBuildPublic:
    """Build the approximate index (``CREATE INDEX CONCURRENTLY``: writes go on meanwhile), replacing the
    collection's current one once ready; answers when the build is done. ``kind: none`` drops it."""
    return await run_blocking(request, _build, client, ns, name, body)


@router.delete("/index", status_code=204)
async def drop_index(
    request: Request, ns: WriteNamespace, name: CollectionName, client: ClientDep
) -> Response:
    """Drop the approximate index; searches are exact from then on."""
    await run_blocking(request, _drop, client, ns, name)
    return Response(status_code=204)


@router.post("/tune", response_model=TunePublic)
async def tune(
    request: Request, ns: WriteNamespace, name: CollectionName, body: TuneRequest, client: ClientDep
) -> TunePublic:
    """Find and store the smallest ef_search (HNSW), probes (IVFFlat) or rerank (binary quantization)
    whose recall@k on sampled stored records reaches ``target_recall`` with a safety margin."""
    return await run_blocking(request, _tune, client, ns, name, body)
