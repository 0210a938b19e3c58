"""The search page of a collection (``/ns/{ns}/c/{name}``): by text, by a record ("similar"), or by an
uploaded picture; and the pictures of image records (read with the session's key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from ...api.deps import ClientDep, run_blocking
from ...core.client import Client
from ..access import ViewerDep
from ..forms import parse_search_form
from ..pages import render
from ..routing import WebRoute
from ..search_page import SearchPage, build_search_page

router = APIRouter(route_class=WebRoute, include_in_schema=False)
RecordId = Annotated[str, Query(alias="id", description="Record id")]


def _render(request: Request, page: SearchPage) -> Response:
    return render(request, "search.html", {"page": page}, status=page.status)


@router.get("/ns/{ns}/c/{name}")
async def search_page(request: Request, ns: str, name: str, viewer: ViewerDep, client: ClientDep) -> Response:
    """The search form, and the results when the URL asks for a search (else the first records)."""
    viewer.require_read(ns)
    form, problems = parse_search_form(request.query_params.multi_items())
    page = await run_blocking(request, build_search_page, client, ns, name, form, problems=problems)
    return _render(request, page)


@router.post("/ns/{ns}/c/{name}/image-search")
async def image_search(
    request: Request, ns: str, name: str, viewer: ViewerDep, client: ClientDep
) -> Response:
    """Search by an uploaded picture. Answered directly, not redirected: the picture cannot travel in
    a URL. It changes nothing, so (like a GET) it needs no CSRF token, which would otherwise end up
    in the URL of every text search made with the same form."""
    viewer.require_read(ns)
    async with request.form() as form_data:
        form, problems = parse_search_form(form_data.multi_items())
        upload = form_data.get("image")
        image = await upload.read() if isinstance(upload, UploadFile) else b""
        filename = (upload.filename or "") if isinstance(upload, UploadFile) else ""
    if not image:
        problems.append("choose a picture to search with (or drop one on the drop area)")
    page = await run_blocking(
        request,
        build_search_page,
        client,
        ns,
        name,
        form,
        problems=problems,
        image=image or None,
        image_name=filename,
    )
    return _render(request, page)


def _picture(client: Client, ns: str, name: str, record_id: str, thumbnail: bool) -> Response:
    data, media_type = client.get_collection(name, namespace=ns).get_image(record_id, thumbnail=thumbnail)
    # Private: with keys on, the picture belongs to whoever's key fetched it.
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media_type, headers=headers)


@router.get("/ns/{ns}/c/{name}/thumbnail")
async def thumbnail(
    request: Request, ns: str, name: str, record_id: RecordId, viewer: ViewerDep, client: ClientDep
) -> Response:
    """A record's WebP thumbnail (at most 256 pixels a side)."""
    viewer.require_read(ns)
    return await run_blocking(request, _picture, client, ns, name, record_id, True)


@router.get("/ns/{ns}/c/{name}/image")
async def image(
    request: Request, ns: str, name: str, record_id: RecordId, viewer: ViewerDep, client: ClientDep
) -> Response:
    """A record's original picture."""
    viewer.require_read(ns)
    return await run_blocking(request, _picture, client, ns, name, record_id, False)
