"""The upload page (``/uploads``): send files or an archive to a collection as an upload job, then
watch the job's page (``/jobs/{id}``) fill its progress bar until it is done, with the items that
failed listed by name. The page polls ``/jobs/{id}/status`` (JSON) from a small script; without
scripts it reloads itself while the job runs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile

from ...api.deps import ClientDep, run_blocking
from ...core.client import Client
from ...core.jobs import Job, UploadedFile
from ...errors import InvalidInput, JobNotFound
from ..access import Viewer, ViewerDep
from ..actions import attempt, posted_form, text_field
from ..pages import redirect, render, with_query
from ..routing import Redirect, WebRoute
from ..session import Flash, Level

router = APIRouter(route_class=WebRoute, include_in_schema=False)
RECENT_JOBS = 20


def _targets(client: Client, viewer: Viewer) -> list[str]:
    """``namespace/name`` of every collection the viewer may upload to."""
    return [info.qualified_name for info in client.list_collections() if viewer.can_write(info.namespace)]


def _recent(client: Client, viewer: Viewer) -> list[Job]:
    namespaces = (
        None if viewer.is_admin else [viewer.key.namespace] if viewer.key and viewer.key.namespace else []
    )
    return client.jobs.list(namespaces, limit=RECENT_JOBS)


@router.get("/uploads")
async def upload_page(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    targets = await run_blocking(request, _targets, client, viewer)
    jobs = await run_blocking(request, _recent, client, viewer)
    chosen = request.query_params.get("collection", "")
    context = {"targets": targets, "chosen": chosen, "jobs": jobs, "limits": request.app.state.settings}
    return render(request, "upload.html", context)


async def _files(form: FormData) -> list[UploadedFile]:
    parts = [part for part in form.getlist("files") if isinstance(part, UploadFile) and part.filename]
    return [UploadedFile(part.filename or "upload", await part.read()) for part in parts]


def _metadata(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the metadata is not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise InvalidInput('the metadata must be a JSON object, e.g. {"album": "summer"}')
    return value


def _upload(client: Client, target: str, files: list[UploadedFile], metadata_text: str) -> Job:
    namespace, _, name = target.partition("/")
    collection = client.get_collection(name, namespace=namespace)
    return client.jobs.upload(collection, files=files, metadata=_metadata(metadata_text))


@router.post("/uploads")
async def upload(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    form = await posted_form(request)
    try:
        target = text_field(form, "collection")
        metadata = text_field(form, "metadata")
        back = with_query("/uploads", {"collection": target})
        namespace = target.partition("/")[0]
        viewer.require_write(namespace, back, "upload to it")
        files = await _files(form)
        if not files:
            raise Redirect.error(back, "Choose one or more files (pictures, archives, .jsonl or .csv) first.")
        job = await attempt(request, back, "Could not upload", _upload, client, target, files, metadata)
    finally:
        await form.close()
    count = len(files)
    message = f"Upload queued as job {job.id}: {count} file{'' if count == 1 else 's'} for {target}."
    return redirect(request, f"/jobs/{job.id}", Flash(Level.SUCCESS, message))


def _visible_job(client: Client, viewer: Viewer, job_id: str) -> Job:
    job = client.jobs.get(job_id)
    if not viewer.can_read(job.namespace):
        raise JobNotFound(f"job {job_id} does not exist")  # as for a job that is not there
    return job


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str, viewer: ViewerDep, client: ClientDep) -> Response:
    job = await run_blocking(request, _visible_job, client, viewer, job_id)
    return render(request, "job.html", {"job": job})


def job_status(job: Job) -> dict[str, Any]:
    """What the job page's script needs to redraw itself."""
    return {
        "status": job.status.value,
        "finished": job.finished,
        "percent": job.percent,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "cancelled": job.cancelled,
        "errors": [{"name": e.name, "reason": e.reason, "source": e.source} for e in job.errors],
    }


@router.get("/jobs/{job_id}/status")
async def job_status_json(request: Request, job_id: str, viewer: ViewerDep, client: ClientDep) -> Response:
    job = await run_blocking(request, _visible_job, client, viewer, job_id)
    return JSONResponse(job_status(job), headers={"Cache-Control": "no-store"})
