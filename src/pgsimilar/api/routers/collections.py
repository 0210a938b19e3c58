"""``/v1/namespaces/{ns}/collections``: create, list, get (with count and index state), drop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from ...core.client import Client
from ...core.collection import Collection
from ...core.types import IndexKind
from ..deps import ClientDep, ReadNamespace, WriteNamespace, run_blocking
from ..schemas import CollectionCreate, CollectionList, CollectionPublic, IndexSpec, IndexState

router = APIRouter(prefix="/v1/namespaces/{ns}/collections", tags=["collections"])
CollectionName = Annotated[str, Path(description="Collection name")]


def index_state(collection: Collection) -> IndexState:
    """The collection's index as the API shows it (reads whether it is built: call off the event loop)."""
    info = collection.info
    return IndexState(
        kind=info.index.kind,
        m=info.index.m,
        ef_construction=info.index.ef_construction,
        lists=info.index.lists,
        built=collection.index_built(),
        search_defaults=dict(info.search_defaults),
    )


def describe(collection: Collection) -> CollectionPublic:
    """The collection as the API shows it (reads its count and index state: call off the event loop)."""
    info = collection.info
    return CollectionPublic(
        namespace=info.namespace,
        name=info.name,
        embedder=info.embedder,
        model=collection.embedder.model_id,
        dimensions=info.dimensions,
        metric=info.metric,
        storage=info.storage,
        quantization=info.quantization,
        index=index_state(collection),
        text_language=info.text_language,
        count=collection.count(),
        created_at=info.created_at,
    )


def _create(client: Client, ns: str, body: CollectionCreate) -> CollectionPublic:
    index = body.index if isinstance(body.index, IndexSpec) else IndexSpec(kind=IndexKind(body.index))
    collection = client.create_collection(
        body.name,
        namespace=ns,
        embedder=body.embedder,
        dimensions=body.dimensions,
        metric=body.metric,
        storage=body.storage,
        index=index.kind,
        m=index.m,
        ef_construction=index.ef_construction,
        lists=index.lists,
        quantization=body.quantization,
        text_language=body.text_language,
    )
    return describe(collection)


def _list(client: Client, ns: str) -> CollectionList:
    described = [
        describe(client.get_collection(info.name, namespace=ns)) for info in client.list_collections(ns)
    ]
    return CollectionList(data=described, count=len(described))


@router.post("", response_model=CollectionPublic, status_code=201)
async def create_collection(
    request: Request, ns: WriteNamespace, body: CollectionCreate, client: ClientDep
) -> CollectionPublic:
    return await run_blocking(request, _create, client, ns, body)


@router.get("", response_model=CollectionList)
async def list_collections(request: Request, ns: ReadNamespace, client: ClientDep) -> CollectionList:
    return await run_blocking(request, _list, client, ns)


@router.get("/{name}", response_model=CollectionPublic)
async def get_collection(
    request: Request, ns: ReadNamespace, name: CollectionName, client: ClientDep
) -> CollectionPublic:
    return await run_blocking(request, lambda: describe(client.get_collection(name, namespace=ns)))


@router.delete("/{name}", status_code=204)
async def drop_collection(
    request: Request, ns: WriteNamespace, name: CollectionName, client: ClientDep
) -> Response:
    await run_blocking(request, client.drop_collection, name, namespace=ns)
    return Response(status_code=204)
