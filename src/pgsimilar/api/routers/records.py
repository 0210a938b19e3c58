"""``.../collections/{name}/records``: batch upsert, get, delete by id or by filter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from ...core.client import Client
from ...core.types import Record
from ..deps import ClientDep, ReadNamespace, WriteNamespace, run_blocking
from ..errors import ApiError
from ..images import decode_base64_image
from ..schemas import DeletedPublic, RecordPublic, RecordsDelete, RecordsUpsert, UpsertPublic

router = APIRouter(prefix="/v1/namespaces/{ns}/collections/{name}/records", tags=["records"])
CollectionName = Annotated[str, Path(description="Collection name")]
RecordId = Annotated[str, Path(description="Record id")]


def _upsert(client: Client, ns: str, name: str, body: RecordsUpsert) -> UpsertPublic:
    collection = client.get_collection(name, namespace=ns)
    records = [
        Record(
            id=item.id,  # type: ignore[arg-type]  # None: derived from the content
            content=item.text,
            metadata=item.metadata,
            vector=item.vector,
            image=None
            if item.image is None
            else decode_base64_image(item.image, f"records[{position}].image"),
        )
        for position, item in enumerate(body.records)
    ]
    result = collection.upsert(records)
    return UpsertPublic(
        inserted=result.inserted, updated=result.updated, unchanged=result.unchanged, embedded=result.embedded
    )


@router.put("", response_model=UpsertPublic)
async def upsert_records(
    request: Request, ns: WriteNamespace, name: CollectionName, body: RecordsUpsert, client: ClientDep
) -> UpsertPublic:
    """Insert or replace records by id, all or nothing; unchanged texts are not embedded again."""
    limit = request.app.state.settings.max_records_per_request
    if len(body.records) > limit:
        raise ApiError(
            413, "too_many_records", f"at most {limit:,} records per request; send several requests"
        )
    return await run_blocking(request, _upsert, client, ns, name, body)


def _get(client: Client, ns: str, name: str, record_id: str, include_vector: bool) -> RecordPublic:
    record = client.get_collection(name, namespace=ns).get(record_id, include_vector=include_vector)
    public = RecordPublic(
        id=record.id,
        text=record.content,
        metadata=record.metadata,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
    if record.vector is not None:  # only when asked for: the field is left out otherwise
        public.vector = [float(value) for value in record.vector]
    return public


@router.get("/{record_id}", response_model=RecordPublic, response_model_exclude_unset=True)
async def get_record(
    request: Request,
    ns: ReadNamespace,
    name: CollectionName,
    record_id: RecordId,
    client: ClientDep,
    include_vector: Annotated[bool, Query(description="Include the stored vector")] = False,
) -> RecordPublic:
    return await run_blocking(request, _get, client, ns, name, record_id, include_vector)


def _delete_one(client: Client, ns: str, name: str, record_id: str) -> None:
    collection = client.get_collection(name, namespace=ns)
    if collection.delete([record_id]) == 0:
        collection.get(record_id)  # raises RecordNotFound


def _image(client: Client, ns: str, name: str, record_id: str, thumbnail: bool) -> Response:
    data, media_type = client.get_collection(name, namespace=ns).get_image(record_id, thumbnail=thumbnail)
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/*": {}}, "description": "The image"}
}


@router.get("/{record_id}/image", response_class=Response, responses=_IMAGE_RESPONSES)
async def get_image(
    request: Request, ns: ReadNamespace, name: CollectionName, record_id: RecordId, client: ClientDep
) -> Response:
    """The record's original image, as uploaded."""
    return await run_blocking(request, _image, client, ns, name, record_id, False)


@router.get("/{record_id}/thumbnail", response_class=Response, responses=_IMAGE_RESPONSES)
async def get_thumbnail(
    request: Request, ns: ReadNamespace, name: CollectionName, record_id: RecordId, client: ClientDep
) -> Response:
    """A WebP thumbnail of the record's image (at most 256 pixels a side)."""
    return await run_blocking(request, _image, client, ns, name, record_id, True)


@router.delete("/{record_id}", status_code=204)
async def delete_record(
    request: Request, ns: WriteNamespace, name: CollectionName, record_id: RecordId, client: ClientDep
) -> Response:
    await run_blocking(request, _delete_one, client, ns, name, record_id)
    return Response(status_code=204)


@router.post("/delete", response_model=DeletedPublic)
async def delete_records(
    request: Request, ns: WriteNamespace, name: CollectionName, body: RecordsDelete, client: ClientDep
) -> DeletedPublic:
    """Delete by ``ids`` or by ``filter`` (one of them; ``{"filter": {}}`` deletes every record)."""

    def delete() -> int:
        return client.get_collection(name, namespace=ns).delete(body.ids, filter=body.filter)

    return DeletedPublic(deleted=await run_blocking(request, delete))
