"""Uploads (``POST .../collections/{name}/uploads``) and the jobs they become (``/v1/jobs``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.datastructures import UploadFile

from ...core.client import Client
from ...core.jobs import Job, UploadedFile, UrlToFetch
from ...core.keys import ApiKey
from ...errors import InvalidInput, JobNotFound, NamespaceNotFound
from ..deps import CallerDep, ClientDep, WriteNamespace, run_blocking
from ..errors import ApiError
from ..schemas import ItemErrorPublic, JobList, JobPublic, UrlIn, UrlsUpload

uploads_router = APIRouter(prefix="/v1/namespaces/{ns}/collections/{name}/uploads", tags=["jobs"])
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
JobId = Annotated[str, Path(description="Job id (a UUID)")]

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "Images, zip/tar/tar.gz archives of images (with an optional metadata.json or "
            "metadata.csv sidecar), .jsonl/.csv files of text records, .txt documents",
        },
        "metadata": {"type": "string", "description": "A JSON object given to every item"},
    },
}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            "application/json": {"schema": {"$ref": "#/components/schemas/UrlsUpload"}},
        },
    }
}


def job_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        namespace=job.namespace,
        collection=job.collection,
        status=job.status.value,
        total=job.total,
        done=job.done,
        failed=job.failed,
        cancelled=job.cancelled,
        percent=job.percent,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
        errors=[ItemErrorPublic(name=e.name, reason=e.reason, source=e.source) for e in job.errors],
    )


def _metadata(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, str):
        raise InvalidInput("the metadata field must be text holding a JSON object")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the metadata field is not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise InvalidInput("the metadata field must hold a JSON object")
    return value


async def _files_of(request: Request) -> tuple[list[UploadedFile], dict[str, Any]]:
    settings = request.app.state.settings
    async with request.form(max_files=settings.max_upload_items + 1, max_fields=20) as form:
        unknown = set(form.keys()) - {"files", "metadata"}
        if unknown:
            raise InvalidInput(
                f"unknown form fields: {', '.join(sorted(unknown))}; send 'files' and 'metadata'"
            )
        parts = form.getlist("files")
        if any(not isinstance(part, UploadFile) for part in parts):
            raise InvalidInput("'files' must be file parts (with a file name)")
        files = [UploadedFile(part.filename or "upload", await part.read()) for part in parts]  # type: ignore[union-attr]
        return files, _metadata(form.get("metadata"))


def _urls_of(body: bytes) -> tuple[list[UrlToFetch], dict[str, Any]]:
    try:
        upload = UrlsUpload.model_validate_json(body)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise InvalidInput(f"invalid upload: {problems}") from None
    urls = [UrlToFetch(url=entry) if isinstance(entry, str) else _url_of(entry) for entry in upload.urls]
    return urls, upload.metadata


def _url_of(entry: UrlIn) -> UrlToFetch:
    return UrlToFetch(url=entry.url, id=entry.id, metadata=entry.metadata)


def _upload(
    client: Client,
    ns: str,
    name: str,
    files: list[UploadedFile],
    urls: list[UrlToFetch],
    metadata: dict[str, Any],
) -> JobPublic:
    collection = client.get_collection(name, namespace=ns)
    return job_public(client.jobs.upload(collection, files=files, urls=urls, metadata=metadata))


@uploads_router.post(
    "", status_code=202, response_model=JobPublic, openapi_extra=_UPLOAD_BODY, responses={415: {}}
)
async def upload(
    request: Request, response: Response, ns: WriteNamespace, name: str, client: ClientDep
) -> JobPublic:
    """Queue files, archives or URLs for the collection; answers 202 with the job at once.

    Send ``multipart/form-data`` with one or more ``files`` (and an optional ``metadata`` JSON object
    for every item), or ``application/json`` ``{"urls": [...], "metadata": {...}}``. Poll
    ``GET /v1/jobs/{id}`` for progress and the items that failed.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    files: list[UploadedFile] = []
    urls: list[UrlToFetch] = []
    if content_type == "multipart/form-data":
        files, metadata = await _files_of(request)
    elif content_type == "application/json":
        urls, metadata = _urls_of(await request.body())
    else:
        raise ApiError(
            415, "unsupported_media_type", "send multipart/form-data (files) or application/json (urls)"
        )
    job = await run_blocking(request, _upload, client, ns, name, files, urls, metadata)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


def _visible_job(client: Client, job_id: str, caller: ApiKey | None, write: bool) -> Job:
    job = client.jobs.get(job_id)
    if caller is not None and not caller.can_read(job.namespace):
        raise JobNotFound(f"job {job_id} does not exist")  # the same answer as for a job that is not there
    if write and caller is not None and not caller.can_write(job.namespace):
        raise ApiError(403, "forbidden", f"this key may only read namespace {job.namespace!r}")
    return job


@router.get("", response_model=JobList)
async def list_jobs(
    request: Request,
    client: ClientDep,
    caller: CallerDep,
    namespace: Annotated[str | None, Query(description="Only this namespace's jobs")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    """Jobs, newest first: of ``namespace``, or of every namespace the key may see."""
    if namespace is not None and caller is not None and not caller.can_read(namespace):
        raise NamespaceNotFound.named(namespace)
    if namespace is not None:
        namespaces: list[str] | None = [namespace]
    elif caller is not None and caller.namespace is not None:
        namespaces = [caller.namespace]
    else:
        namespaces = None
    jobs = await run_blocking(request, client.jobs.list, namespaces, limit=limit, offset=offset)
    return JobList(data=[job_public(job) for job in jobs], count=len(jobs))


@router.get("/{job_id}", response_model=JobPublic)
async def get_job(request: Request, job_id: JobId, client: ClientDep, caller: CallerDep) -> JobPublic:
    """A job's status, counts, percent and failed items."""
    return job_public(await run_blocking(request, _visible_job, client, job_id, caller, False))


def _cancel(client: Client, job_id: str, caller: ApiKey | None) -> JobPublic:
    job = _visible_job(client, job_id, caller, True)
    return job_public(client.jobs.cancel(job.id))


@router.post("/{job_id}/cancel", response_model=JobPublic)
async def cancel_job(request: Request, job_id: JobId, client: ClientDep, caller: CallerDep) -> JobPublic:
    """Stop a queued or running job (409 if it has finished); items being stored right now may still land."""
    return await run_blocking(request, _cancel, client, job_id, caller)
