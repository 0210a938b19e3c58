"""Job workers: claim a batch of items, turn them into records, upsert them, mark them done.

The same :class:`Worker` runs in threads of ``pgsimilar serve`` (:class:`WorkerThreads`) and in
``pgsimilar worker`` processes. Nothing is kept in memory between batches: everything a worker needs
is in the job's items, so a worker that dies loses nothing (its claims run out and another worker
takes the items); a failure that may pass (the embedding service is down) gives the items back to be
retried, up to ``job_max_attempts`` claims.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg

from ..errors import DatabaseUnavailable, EmbedderError, FetchFailed, InvalidInput, PgsimilarError
from ..media.fetch import fetch_url
from ..storage import jobs as job_sql
from ..storage.jobs import Claim, ItemRow, NewItemRow
from .ingest import (
    ItemKind,
    archive_limits,
    record_of_fetched,
    record_of_image,
    record_of_json,
    unpack_archive,
    unpack_records_file,
)
from .jobs import fetch_limits
from .types import Record

if TYPE_CHECKING:
    from .client import Client
    from .collection import Collection

logger = logging.getLogger("pgsimilar.worker")

RETRY_DELAY_SECONDS = 5.0
_TRANSIENT = (EmbedderError, DatabaseUnavailable, psycopg.OperationalError)


@dataclass
class _Outcome:
    """What became of a batch's items: (position, record id) stored, (position, reason) failed."""

    done: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


class Worker:
    """Processes job items from the database of ``client`` (one batch per :meth:`run_once`)."""

    def __init__(self, client: Client, name: str | None = None) -> None:
        self.client = client
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._settings = client.settings

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Process batches until ``stop`` is set; between empty polls, wait for ``wake`` or the poll interval."""
        while not stop.is_set():
            try:
                busy = self.run_once() > 0
            except PgsimilarError as exc:  # the database went away: keep trying, do not die
                logger.warning("job worker %s: %s", self.name, exc)
                busy = False
            except psycopg.Error as exc:
                logger.warning("job worker %s: database error: %s", self.name, exc)
                busy = False
            except Exception:
                # A bug met on some item must not stop the worker: the item's claim runs out, it is
                # tried again, and after job_max_attempts it fails with the others carrying on.
                logger.exception("job worker %s: unexpected error", self.name)
                busy = False
            if busy:
                continue
            if wake is not None:
                wake.wait(self._settings.job_poll_seconds)
                wake.clear()
            else:
                stop.wait(self._settings.job_poll_seconds)

    def run_once(self) -> int:
        """Claim and process one batch; the number of items it held (0: there was no work)."""
        settings = self._settings
        with self.client.database.connection() as conn:
            job_sql.fail_abandoned_items(conn, settings.job_max_attempts)
            claim = job_sql.claim_items(conn, self.name, settings.job_batch_size, settings.job_lease_seconds)
        if claim is None:
            return 0
        self._process(claim)
        return len(claim.items)

    def _process(self, claim: Claim) -> None:
        collection = self.client.get_collection(claim.collection, namespace=claim.namespace)
        outcome = _Outcome()
        records: list[tuple[ItemRow, Record]] = []
        for item in claim.items:
            if item.kind in (ItemKind.ARCHIVE, ItemKind.RECORDS_FILE):
                self._unpack(item)
                continue
            try:
                records.append((item, self._record(item)))
            except (InvalidInput, FetchFailed, ValueError) as exc:
                outcome.failed.append((item.position, str(exc)))
        try:
            self._store(collection, records, outcome)
        except _TRANSIENT as exc:
            logger.warning("job %s: will retry %d items: %s", claim.job_id, len(claim.items), exc)
            with self.client.database.connection() as conn:
                positions = [item.position for item, _ in records]
                delay = RETRY_DELAY_SECONDS * max(item.attempts for item in claim.items)
                job_sql.release_items(conn, self.name, claim.job_id, positions, str(exc), delay)
            outcome.done.clear()
        with self.client.database.connection() as conn:
            job_sql.finish_items(conn, self.name, claim.job_id, outcome.done, outcome.failed)

    def _record(self, item: ItemRow) -> Record:
        if item.kind == ItemKind.IMAGE:
            return record_of_image(item.payload or b"", item.record_id, item.metadata)
        if item.kind == ItemKind.RECORD:
            return record_of_json(item.payload or b"{}")
        if item.kind == ItemKind.URL:
            fetched = fetch_url(item.name, fetch_limits(self._settings))
            self._extend_claims(item)  # a slow download must not let the rest of the batch go
            return record_of_fetched(fetched, item.record_id, item.metadata)
        raise InvalidInput(f"unknown item kind {item.kind!r}")

    def _extend_claims(self, item: ItemRow) -> None:
        with self.client.database.connection() as conn:
            job_sql.extend_claims(conn, self.name, item.job_id, self._settings.job_lease_seconds)

    def _unpack(self, item: ItemRow) -> None:
        """Replace an archive or records file by its items, or fail it as a whole."""
        settings = self._settings
        with self.client.database.connection() as conn:
            budget = settings.max_upload_items - job_sql.job_total(conn, item.job_id) + 1
        children: list[NewItemRow] = []
        error: str | None = None
        try:
            if item.kind == ItemKind.ARCHIVE:
                limits = archive_limits(settings, budget)
                children = unpack_archive(item.name, item.payload or b"", item.metadata, limits)
            else:
                children = unpack_records_file(item.name, item.payload or b"", item.metadata, budget)
        except InvalidInput as exc:
            error = str(exc)
        with self.client.database.connection() as conn:
            job_sql.expand_item(conn, self.name, item, children, error, settings.max_upload_items)

    def _store(
        self, collection: Collection, records: Sequence[tuple[ItemRow, Record]], outcome: _Outcome
    ) -> None:
        """Upsert the batch at once; if one record is refused, store the others one by one."""
        if not records:
            return
        # Items with the same id (the same picture twice) are one record: the last one given wins.
        latest = {record.id: record for _, record in records}
        try:
            collection.upsert(list(latest.values()))
            outcome.done.extend((item.position, record.id) for item, record in records)
            return
        except _TRANSIENT:
            raise
        except InvalidInput:
            pass
        refused: dict[str, str] = {}
        for record_id, record in latest.items():
            try:
                collection.upsert([record])
            except _TRANSIENT:
                raise
            except InvalidInput as exc:
                refused[record_id] = str(exc)
        for item, record in records:
            if record.id in refused:
                outcome.failed.append((item.position, refused[record.id]))
            else:
                outcome.done.append((item.position, record.id))


class WorkerThreads:
    """``count`` workers on threads of this process (used by ``pgsimilar serve``)."""

    def __init__(self, client: Client, count: int) -> None:
        self._client = client
        self._count = count
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._client.jobs.on_new_job(self._wake.set)
        for number in range(self._count):
            worker = Worker(self._client)
            thread = threading.Thread(
                target=worker.run,
                args=(self._stop, self._wake),
                name=f"pgsimilar-job-worker-{number}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the workers to stop after their batch, and wait for them (claims left run out by themselves)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
