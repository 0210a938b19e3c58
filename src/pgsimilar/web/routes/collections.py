"""The collections page (``/``): namespaces and their collections; create one; delete one after a
confirmation page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from ...api.deps import ClientDep, run_blocking
from ...core.client import Client
from ...core.types import CollectionInfo, IndexKind, Metric
from ...embedders.base import Modality
from ...embedders.registry import available_embedders
from ...errors import InvalidInput, PgsimilarError
from ..access import Viewer, ViewerDep
from ..actions import attempt, posted_form, text_field
from ..pages import collection_url, redirect, render, with_query
from ..routing import WebRoute
from ..session import Flash, Level

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@dataclass(frozen=True)
class CollectionRow:
    """A collection as the list shows it; ``index_built`` and ``model`` are None when its embedder
    cannot be built here (a plugin that is not installed)."""

    info: CollectionInfo
    count: int
    index_built: bool | None
    images: bool
    model: str | None


@dataclass(frozen=True)
class NamespaceView:
    name: str
    writable: bool
    collections: list[CollectionRow]


def _row(client: Client, info: CollectionInfo, count: int) -> CollectionRow:
    try:
        collection = client.get_collection(info.name, namespace=info.namespace)
        return CollectionRow(
            info=info,
            count=count,
            index_built=collection.index_built(),
            images=collection.embedder.supports(Modality.IMAGE),
            model=collection.embedder.model_id,
        )
    except PgsimilarError:
        return CollectionRow(info=info, count=count, index_built=None, images=False, model=None)


def _overview(client: Client, viewer: Viewer) -> list[NamespaceView]:
    counts = client.record_counts()
    by_namespace: dict[str, list[CollectionRow]] = defaultdict(list)
    for info in client.list_collections():
        if viewer.can_read(info.namespace):
            count = counts.get((info.namespace, info.name), 0)
            by_namespace[info.namespace].append(_row(client, info, count))
    return [
        NamespaceView(
            name=namespace, writable=viewer.can_write(namespace), collections=by_namespace[namespace]
        )
        for namespace in client.list_namespaces()
        if viewer.can_read(namespace)
    ]


# The fields of the create form; after a refusal they come back in the query, to fill the form again.
DRAFT_FIELDS = ("namespace", "name", "embedder", "metric", "index", "dimensions")


@router.get("/")
async def collections_page(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    """The namespaces the viewer may read, their collections, and the create form."""
    namespaces = await run_blocking(request, _overview, client, viewer)
    context = {
        "draft": {field: request.query_params.get(field, "") for field in DRAFT_FIELDS},
        "namespaces": namespaces,
        "writable": [view.name for view in namespaces if view.writable],
        "embedders": available_embedders(),
        "metrics": [metric.value for metric in Metric],
        "indexes": [kind.value for kind in IndexKind],
        "total": sum(len(view.collections) for view in namespaces),
    }
    return render(request, "collections.html", context)


def _dimensions(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"dimensions must be a whole number, not {text!r}") from None


@router.post("/collections")
async def create_collection(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    """Create a collection from the form; a refusal comes back with the form filled in again."""
    form = await posted_form(request)
    draft = {field: text_field(form, field) for field in DRAFT_FIELDS}
    namespace, name = draft["namespace"], draft["name"]
    back = with_query("/", draft)
    viewer.require_write(namespace, back, "create collections")
    failure = f"Could not create collection {namespace}/{name}" if name else "Could not create the collection"
    collection = await attempt(
        request,
        back,
        failure,
        lambda: client.create_collection(
            name,
            namespace=namespace,
            embedder=draft["embedder"] or "minilm",
            metric=draft["metric"] or Metric.COSINE.value,
            index=draft["index"] or IndexKind.HNSW.value,
            dimensions=_dimensions(draft["dimensions"]),
        ),
    )
    info = collection.info
    message = (
        f"Created collection {info.qualified_name} ({info.embedder}, {info.dimensions} dimensions, "
        f"{info.metric.value})."
    )
    return redirect(request, "/", Flash(Level.SUCCESS, message))


def _described(client: Client, ns: str, name: str) -> CollectionRow:
    collection = client.get_collection(name, namespace=ns)
    return CollectionRow(
        info=collection.info, count=collection.count(), index_built=None, images=False, model=None
    )


@router.get("/ns/{ns}/c/{name}/delete")
async def confirm_delete(
    request: Request, ns: str, name: str, viewer: ViewerDep, client: ClientDep
) -> Response:
    """The confirmation step before a collection is dropped."""
    viewer.require_read(ns)
    viewer.require_write(ns, "/", f"delete {ns}/{name}")
    row = await run_blocking(request, _described, client, ns, name)
    return render(request, "confirm_delete.html", {"row": row})


@router.post("/ns/{ns}/c/{name}/delete")
async def delete_collection(
    request: Request, ns: str, name: str, viewer: ViewerDep, client: ClientDep
) -> Response:
    """Drop the collection (after the confirmation page) and go back to the list."""
    await posted_form(request)
    viewer.require_write(ns, "/", f"delete {ns}/{name}")
    back = collection_url(ns, name, "/delete")
    await attempt(request, back, f"Could not delete {ns}/{name}", client.drop_collection, name, namespace=ns)
    return redirect(request, "/", Flash(Level.SUCCESS, f"Deleted collection {ns}/{name} and its records."))
