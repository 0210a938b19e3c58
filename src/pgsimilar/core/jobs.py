"""Upload jobs: files, archives and URLs stored in PostgreSQL at once, embedded and written by workers.

``client.jobs.upload(collection, files=..., urls=...)`` answers as soon as the bytes are stored (in the
job's items, one transaction), and workers (:mod:`pgsimilar.core.worker`) do the rest; ``get`` shows
progress and the items that failed, ``cancel`` stops what has not started.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, JobNotFound
from ..media.fetch import FetchLimits
from ..storage import jobs as job_sql
from .ingest import item_from_file, item_from_url

if TYPE_CHECKING:
    from ..config import Settings
    from ..storage.database import Database
    from .collection import Collection

MAX_ERRORS_SHOWN = 1_000


class JobStatus(StrEnum):
    """Where a job is: waiting, being worked on, or finished (one of the last four)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the job has ended (nothing more will happen to it)."""
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class ItemError:
    """An item that could not be stored: its name (file, archive member, ``file:line`` or URL) and why."""

    name: str
    reason: str
    source: str | None = None  # the uploaded file it came from, for archive members and lines


@dataclass(frozen=True)
class Job:
    """An upload job's state. ``total`` grows when an archive or records file is unpacked."""

    id: str
    namespace: str
    collection: str
    kind: str
    status: JobStatus
    total: int
    done: int
    failed: int
    cancelled: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    errors: list[ItemError] = field(default_factory=list)

    @property
    def percent(self) -> float:
        """Items finished (stored, failed or cancelled) out of the total, 0-100."""
        if self.total == 0:
            return 100.0
        return round(100.0 * min(self.done + self.failed + self.cancelled, self.total) / self.total, 1)

    @property
    def finished(self) -> bool:
        return self.status.finished


@dataclass(frozen=True)
class UploadedFile:
    """A file of an upload: its name (which tells .jsonl/.csv/.txt apart) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class UrlToFetch:
    """An image or document URL of an upload, with an optional record id and metadata of its own."""

    url: str
    id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def _parse_id(job_id: str | uuid.UUID) -> uuid.UUID:
    if isinstance(job_id, uuid.UUID):
        return job_id
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound(f"job {str(job_id)[:80]!r} does not exist") from None


def _job_from_row(row: Mapping[str, Any], errors: list[ItemError]) -> Job:
    return Job(
        id=str(row["id"]),
        namespace=row["namespace"],
        collection=row["collection"],
        kind=row["kind"],
        status=JobStatus(row["status"]),
        total=row["total"],
        done=row["done"],
        failed=row["failed"],
        cancelled=row["cancelled"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        updated_at=row["updated_at"],
        errors=errors,
    )


class JobQueue:
    """The upload jobs of one database (``client.jobs``)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_new_job(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever this process queues a job (wakes in-process workers at once)."""
        with self._lock:
            self._listeners.append(listener)

    def upload(
        self,
        collection: Collection,
        *,
        files: Sequence[UploadedFile] = (),
        urls: Sequence[UrlToFetch] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> Job:
        """Queue files (images, archives of images, .jsonl/.csv/.txt records) and URLs for ``collection``.

        ``metadata`` goes with every item (an archive's sidecar or a record's own fields win). Returns the
        queued job; items that cannot be read at all (an empty file, a URL that is not http/https) are
        failed items of it, not errors.
        """
        settings = self._settings
        if not files and not urls:
            raise InvalidInput("an upload needs at least one file or URL")
        if len(files) + len(urls) > settings.max_upload_items:
            raise InvalidInput(
                f"an upload may hold at most {settings.max_upload_items:,} items; "
                f"this one has {len(files) + len(urls):,} (setting PGSIMILAR_MAX_UPLOAD_ITEMS)"
            )
        shared = dict(metadata or {})
        limits = fetch_limits(settings)
        items = [item_from_file(file.name, file.data, shared) for file in files]
        items += [item_from_url(u.url, u.id, {**shared, **u.metadata}, limits) for u in urls]
        with self._database.connection() as conn:
            job_id = job_sql.create_job(conn, collection.namespace, collection.info.id, "upload", items)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return self.get(job_id)

    def get(self, job_id: str | uuid.UUID, *, max_errors: int = MAX_ERRORS_SHOWN) -> Job:
        """A job with (up to ``max_errors`` of) its failed items; JobNotFound if there is none."""
        parsed = _parse_id(job_id)
        with self._database.connection() as conn:
            row = job_sql.get_job(conn, parsed)
            errors = [ItemError(*error) for error in job_sql.item_errors(conn, parsed, max_errors)]
        return _job_from_row(row, errors)

    def list(self, namespaces: Sequence[str] | None = None, *, limit: int = 50, offset: int = 0) -> list[Job]:
        """Jobs of ``namespaces`` (all when None), newest first, without their item errors."""
        with self._database.connection() as conn:
            rows = job_sql.list_jobs(conn, namespaces, limit=limit, offset=offset)
        return [_job_from_row(row, []) for row in rows]

    def pending_items(self) -> int:
        """Items of queued and running jobs that no worker has finished yet."""
        with self._database.connection() as conn:
            return job_sql.active_items(conn)

    def cancel(self, job_id: str | uuid.UUID) -> Job:
        """Stop a queued or running job; items being embedded right now may still be stored.
        JobFinished if it has finished already."""
        parsed = _parse_id(job_id)
        with self._database.connection() as conn:
            job_sql.cancel_job(conn, parsed)
        return self.get(parsed)


def fetch_limits(settings: Settings) -> FetchLimits:
    """URL fetching limits from the settings."""
    return FetchLimits(
        max_bytes=settings.max_image_bytes,
        timeout_seconds=settings.url_timeout_seconds,
        max_redirects=settings.url_max_redirects,
        allow_private_addresses=settings.url_allow_private_addresses,
    )
