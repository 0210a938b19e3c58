"""``pgsimilar add``: load records from .txt, .jsonl and .csv files and images, with a progress bar."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from ..core.client import Client
from ..core.collection import Collection
from ..core.jobs import Job, UploadedFile
from ..core.loaders import InputFile, input_files
from ..core.types import Record
from ..core.worker import Worker
from ..errors import InvalidInput, InvalidRecord
from ..media import IMAGE_SUFFIXES
from ..media.archives import archive_format
from .common import (
    DEFAULT_NS,
    JsonOption,
    NamespaceOption,
    console,
    open_client,
    print_json,
    progress_bar,
    reports_errors,
)

IMAGE_BATCH_SIZE = 32  # decoded images are large: fewer per transaction than texts


def _load_and_check(target: Collection, files: list[InputFile]) -> list[Record]:
    """Every record of every file, each checked before anything is written."""
    records: list[Record] = []
    for item in files:
        file_records = list(item.records())
        try:
            # Images one at a time: a checked image holds a decoded copy, too big to keep thousands of.
            is_image = item.path.suffix.lower() in IMAGE_SUFFIXES
            for group in [[record] for record in file_records] if is_image else [file_records]:
                target.check(group)
        except InvalidInput as exc:
            raise type(exc)(f"{item.path}: {exc}") from exc
        records.extend(file_records)
    repeated = [record_id for record_id, n in Counter(r.id for r in records if r.id).items() if n > 1]
    if repeated:
        shown = ", ".join(repr(record_id) for record_id in repeated[:5])
        raise InvalidRecord(f"ids given by more than one record: {shown}; each record needs its own id")
    return records


def _is_archive(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return archive_format(path.name, handle.read(1024)) is not None


def _add_archives(client: Client, target: Collection, archives: list[Path], quiet: bool) -> Job:
    """Archives go the way of uploads to the server: a job, worked off here with a progress bar."""
    files = [UploadedFile(path.name, path.read_bytes()) for path in archives]
    job = client.jobs.upload(target, files=files)
    worker = Worker(client)
    with progress_bar("unpacking and adding", quiet=quiet) as progress:
        task = progress.add_task("job", total=job.total, rate="")
        while not job.finished:
            worker.run_once()
            job = client.jobs.get(job.id, max_errors=0)
            progress.update(task, total=job.total, completed=job.done + job.failed)
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:,.1f} items/s" if speed else "")
    return client.jobs.get(job.id)


@reports_errors
def add(
    collection: Annotated[str, typer.Argument(help="Collection to add to.")],
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files (.txt, .jsonl, .csv, images) or directories of them (searched recursively)."
        ),
    ],
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata", help="Sidecar for images: CSV with a 'file' column, or JSON {file: {...}}."
        ),
    ] = None,
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Add (or update) records from files. Every record is read and checked before anything is written.

    JSONL lines are {"id", "text", "metadata"} (BEIR's {"_id", "title", "text"} too); CSV files have
    id, text and metadata (JSON) columns, other columns become metadata. An image (bmp, jpg, png, tiff,
    webp, gif) is one record whose id is its path relative to the folder given, with its file name and
    its sidecar row (a folder's metadata.csv or metadata.json, or --metadata) as metadata. Records are
    written in batches, each all or nothing; unchanged texts and images are not embedded again.
    A zip or tar archive of images is an upload job (as on the server), worked off by this command:
    bad members are reported and skipped, ids come from the sidecar inside it or from the content.
    """
    archives = [path for path in paths if _is_archive(path)]
    paths = [path for path in paths if path not in archives]
    with open_client() as client:
        target = client.get_collection(collection, namespace=namespace)
        if archives:
            job = _add_archives(client, target, archives, as_json)
            _report_archive_job(job, as_json)
        if paths:
            _add_files(target, paths, metadata, client.settings.upsert_batch_size, as_json)


def _report_archive_job(job: Job, as_json: bool) -> None:
    if as_json:
        errors = [{"name": e.name, "reason": e.reason} for e in job.errors]
        print_json(
            {
                "job": job.id,
                "status": job.status.value,
                "stored": job.done,
                "failed": job.failed,
                "errors": errors,
            }
        )
        return
    console.print(f"archives: {job.done:,} stored, {job.failed:,} failed (job {job.id})", highlight=False)
    for error in job.errors:
        console.print(f"  [red]failed[/] {error.name}: {error.reason}", highlight=False)


def _add_files(
    target: Collection, paths: list[Path], metadata: Path | None, batch: int, as_json: bool
) -> None:
    totals = {"inserted": 0, "updated": 0, "unchanged": 0, "embedded": 0}
    records = _load_and_check(target, input_files(paths, sidecar=metadata))
    has_images = any(record.image is not None for record in records)
    batch_size = IMAGE_BATCH_SIZE if has_images else batch
    with progress_bar("adding", quiet=as_json) as progress:
        task = progress.add_task("add", total=len(records), rate="")
        for start in range(0, len(records), batch_size):
            result = target.upsert(records[start : start + batch_size])
            for key in totals:
                totals[key] += getattr(result, key)
            progress.advance(task, min(batch_size, len(records) - start))
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:,.1f} records/s" if speed else "")
    if as_json:
        print_json({"records": len(records), **totals})
    else:
        console.print(
            f"{len(records):,} records: {totals['inserted']:,} new, {totals['updated']:,} updated, "
            f"{totals['unchanged']:,} unchanged; {totals['embedded']:,} embedded",
            highlight=False,
        )
