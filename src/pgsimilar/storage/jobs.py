"""SQL of upload jobs: the queue in ``pgsimilar.jobs`` / ``pgsimilar.job_items``.

Workers claim items with ``FOR UPDATE SKIP LOCKED`` and a lease (``claim_expires_at``). An item is
finished only by the worker that holds its claim, in the same transaction as the job's counters, so a
worker that died (its lease ran out, another worker took the item) cannot count an item twice; the
records themselves are written with upserts on ids derived from content, so writing one twice stores
it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ..errors import JobFinished, JobNotFound

ACTIVE = ("queued", "running")

_JOB_COLUMNS = sql.SQL("""
    j.id, j.namespace, c.name AS collection, j.kind, j.status, j.total, j.done, j.failed,
    (SELECT count(*) FROM pgsimilar.job_items ci WHERE ci.job_id = j.id AND ci.status = 'cancelled')
        AS cancelled,
    j.created_at, j.started_at, j.finished_at, j.updated_at
""")

_ITEM_COLUMNS = sql.SQL("job_id, position, name, kind, payload, metadata, record_id, source, attempts")


@dataclass(frozen=True)
class ItemRow:
    """One job item as a worker holds it."""

    job_id: uuid.UUID
    position: int
    name: str
    kind: str
    payload: bytes | None
    metadata: dict[str, Any]
    record_id: str | None
    source: str | None
    attempts: int


@dataclass(frozen=True)
class NewItemRow:
    """An item to insert; ``error`` set means it failed when it was read (e.g. a path traversal)."""

    name: str
    kind: str
    payload: bytes | None
    metadata: dict[str, Any]
    record_id: str | None = None
    source: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Claim:
    """Items of one job claimed by one worker, with the job's collection."""

    job_id: uuid.UUID
    namespace: str
    collection: str
    items: list[ItemRow]


def _insert_items(conn: Connection[Any], job_id: uuid.UUID, first: int, items: Sequence[NewItemRow]) -> None:
    columns = "job_id, position, name, kind, payload, metadata, record_id, source, status, error"
    with conn.cursor().copy(f"COPY pgsimilar.job_items ({columns}) FROM STDIN") as copy:
        for offset, item in enumerate(items):
            status = "failed" if item.error else "pending"
            payload = None if item.error else item.payload
            row = (job_id, first + offset, item.name, item.kind, payload, Jsonb(item.metadata))
            copy.write_row((*row, item.record_id, item.source, status, item.error))


def create_job(
    conn: Connection[Any], namespace: str, collection_id: int, kind: str, items: Sequence[NewItemRow]
) -> uuid.UUID:
    """A queued job holding ``items`` (their bytes included), written in one transaction."""
    job_id = uuid.uuid4()
    failed = sum(1 for item in items if item.error)
    with conn.transaction():
        conn.execute(
            "INSERT INTO pgsimilar.jobs (id, namespace, collection_id, kind, total, failed)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (job_id, namespace, collection_id, kind, len(items), failed),
        )
        _insert_items(conn, job_id, 0, items)
        _finalize(conn, job_id)
    return job_id


def get_job(conn: Connection[Any], job_id: uuid.UUID) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL(
                "SELECT {} FROM pgsimilar.jobs j"
                " JOIN pgsimilar.collections c ON c.id = j.collection_id WHERE j.id = %s"
            ).format(_JOB_COLUMNS),
            (job_id,),
        ).fetchone()
    if row is None:
        raise JobNotFound(f"job {job_id} does not exist")
    return row


def list_jobs(
    conn: Connection[Any], namespaces: Sequence[str] | None, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Newest first; ``namespaces`` None means every namespace."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL(
                "SELECT {} FROM pgsimilar.jobs j"
                " JOIN pgsimilar.collections c ON c.id = j.collection_id"
                " WHERE %(all)s OR j.namespace = ANY(%(namespaces)s)"
                " ORDER BY j.created_at DESC, j.id LIMIT %(limit)s OFFSET %(offset)s"
            ).format(_JOB_COLUMNS),
            {
                "all": namespaces is None,
                "namespaces": list(namespaces or []),
                "limit": limit,
                "offset": offset,
            },
        ).fetchall()


def item_errors(conn: Connection[Any], job_id: uuid.UUID, limit: int) -> list[tuple[str, str, str | None]]:
    """``(name, error, source)`` of the job's failed items, in upload order."""
    rows = conn.execute(
        "SELECT name, coalesce(error, 'failed'), source FROM pgsimilar.job_items"
        " WHERE job_id = %s AND status = 'failed' ORDER BY position LIMIT %s",
        (job_id, limit),
    ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def cancel_job(conn: Connection[Any], job_id: uuid.UUID) -> None:
    """Stop a queued or running job: its pending items are cancelled (and their bytes freed)."""
    with conn.transaction():
        row = conn.execute("SELECT status FROM pgsimilar.jobs WHERE id = %s FOR UPDATE", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"job {job_id} does not exist")
        if row[0] not in ACTIVE:
            raise JobFinished(f"job {job_id} has finished already ({row[0]})")
        conn.execute(
            "UPDATE pgsimilar.job_items SET status = 'cancelled', payload = NULL, claimed_by = NULL"
            " WHERE job_id = %s AND status = 'pending'",
            (job_id,),
        )
        conn.execute(
            "UPDATE pgsimilar.jobs SET status = 'cancelled', cancel_requested = true,"
            " finished_at = now(), updated_at = now() WHERE id = %s",
            (job_id,),
        )


def fail_abandoned_items(conn: Connection[Any], max_attempts: int) -> None:
    """Items whose claim ran out ``max_attempts`` times (workers kept dying on them) fail for good."""
    with conn.transaction():
        rows = conn.execute(
            """
            WITH abandoned AS (
                UPDATE pgsimilar.job_items
                SET status = 'failed', payload = NULL, claimed_by = NULL,
                    error = coalesce(error, 'the worker processing it stopped') || format(' (%%s attempts)', attempts)
                WHERE status = 'pending' AND claim_expires_at < now() AND attempts >= %s
                RETURNING job_id
            )
            UPDATE pgsimilar.jobs j SET failed = j.failed + a.n, updated_at = now()
            FROM (SELECT job_id, count(*) AS n FROM abandoned GROUP BY job_id) a
            WHERE j.id = a.job_id
            RETURNING j.id
            """,
            (max_attempts,),
        ).fetchall()
        for (job_id,) in rows:
            _finalize(conn, job_id)


def claim_items(conn: Connection[Any], worker: str, batch_size: int, lease_seconds: float) -> Claim | None:
    """Up to ``batch_size`` pending items of the oldest active job that has some unclaimed, or None."""
    with conn.transaction():
        first = conn.execute(
            """
            SELECT i.job_id FROM pgsimilar.job_items i JOIN pgsimilar.jobs j ON j.id = i.job_id
            WHERE i.status = 'pending' AND (i.claim_expires_at IS NULL OR i.claim_expires_at < now())
              AND j.status IN ('queued', 'running')
            ORDER BY j.created_at, i.position
            LIMIT 1 FOR UPDATE OF i SKIP LOCKED
            """
        ).fetchone()
        if first is None:
            return None
        job_id = first[0]
        with conn.cursor(row_factory=dict_row) as cur:
            items = cur.execute(
                sql.SQL("""
                UPDATE pgsimilar.job_items
                SET claimed_by = %(worker)s, attempts = attempts + 1,
                    claim_expires_at = now() + make_interval(secs => %(lease)s)
                WHERE (job_id, position) IN (
                    SELECT job_id, position FROM pgsimilar.job_items
                    WHERE job_id = %(job)s AND status = 'pending'
                      AND (claim_expires_at IS NULL OR claim_expires_at < now())
                    ORDER BY position LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
                RETURNING {}
                """).format(_ITEM_COLUMNS),
                {"worker": worker, "lease": lease_seconds, "job": job_id, "batch": batch_size},
            ).fetchall()
            job = cur.execute(
                "UPDATE pgsimilar.jobs j SET status = 'running', updated_at = now(),"
                " started_at = coalesce(j.started_at, now())"
                " FROM pgsimilar.collections c WHERE j.id = %s AND c.id = j.collection_id"
                " RETURNING j.namespace, c.name",
                (job_id,),
            ).fetchone()
    assert job is not None  # the item's foreign key holds the job
    items.sort(key=lambda row: row["position"])
    return Claim(job_id, job["namespace"], job["name"], [ItemRow(**row) for row in items])


def extend_claims(conn: Connection[Any], worker: str, job_id: uuid.UUID, lease_seconds: float) -> None:
    """Keep a long batch's items from being taken over by another worker."""
    conn.execute(
        "UPDATE pgsimilar.job_items SET claim_expires_at = now() + make_interval(secs => %s)"
        " WHERE job_id = %s AND claimed_by = %s AND status = 'pending'",
        (lease_seconds, job_id, worker),
    )


def finish_items(
    conn: Connection[Any],
    worker: str,
    job_id: uuid.UUID,
    done: Sequence[tuple[int, str]],
    failed: Sequence[tuple[int, str]],
) -> None:
    """Mark items ``done`` (position, record id) and ``failed`` (position, reason), if this worker still
    holds them, count them in the job, and finish the job when nothing is left."""
    with conn.transaction():
        n_done = _set_items(conn, worker, job_id, "done", "record_id", done)
        n_failed = _set_items(conn, worker, job_id, "failed", "error", failed)
        conn.execute(
            "UPDATE pgsimilar.jobs SET done = done + %s, failed = failed + %s, updated_at = now()"
            " WHERE id = %s",
            (n_done, n_failed, job_id),
        )
        _finalize(conn, job_id)


def _set_items(
    conn: Connection[Any],
    worker: str,
    job_id: uuid.UUID,
    status: str,
    column: Literal["record_id", "error"],
    values: Sequence[tuple[int, str]],
) -> int:
    if not values:
        return 0
    rows = conn.execute(
        sql.SQL("""
        UPDATE pgsimilar.job_items i
        SET status = %s, {} = v.value, payload = NULL, claimed_by = NULL, claim_expires_at = NULL
        FROM (SELECT unnest(%s::int[]) AS position, unnest(%s::text[]) AS value) v
        WHERE i.job_id = %s AND i.position = v.position AND i.status = 'pending' AND i.claimed_by = %s
        RETURNING 1
        """).format(sql.Identifier(column)),
        (status, [p for p, _ in values], [v for _, v in values], job_id, worker),
    ).fetchall()
    return len(rows)


def release_items(
    conn: Connection[Any], worker: str, job_id: uuid.UUID, positions: Sequence[int], error: str, delay: float
) -> None:
    """Give items back after a passing failure (the model service was down): retried after ``delay``."""
    conn.execute(
        "UPDATE pgsimilar.job_items SET claimed_by = NULL, error = %s,"
        " claim_expires_at = now() + make_interval(secs => %s)"
        " WHERE job_id = %s AND position = ANY(%s) AND claimed_by = %s AND status = 'pending'",
        (error, delay, job_id, list(positions), worker),
    )


def job_total(conn: Connection[Any], job_id: uuid.UUID) -> int:
    row = conn.execute("SELECT total FROM pgsimilar.jobs WHERE id = %s", (job_id,)).fetchone()
    return int(row[0]) if row else 0


def expand_item(
    conn: Connection[Any],
    worker: str,
    item: ItemRow,
    children: Sequence[NewItemRow],
    error: str | None,
    max_total: int,
) -> None:
    """Replace an archive or records file by the items read from it (or fail it with ``error``), at once.
    The job may not grow past ``max_total`` items: then the file fails instead."""
    with conn.transaction():
        row = conn.execute(
            "SELECT total FROM pgsimilar.jobs WHERE id = %s FOR UPDATE", (item.job_id,)
        ).fetchone()
        if error is None and row is not None and row[0] - 1 + len(children) > max_total:
            error = (
                f"it holds {len(children):,} items; with them the upload would pass its limit of "
                f"{max_total:,} items (setting PGSIMILAR_MAX_UPLOAD_ITEMS)"
            )
        held = conn.execute(
            "SELECT 1 FROM pgsimilar.job_items WHERE job_id = %s AND position = %s"
            " AND status = 'pending' AND claimed_by = %s",
            (item.job_id, item.position, worker),
        ).fetchone()
        if held is None:
            return  # cancelled meanwhile, or our claim ran out and another worker has it
        if error is not None:
            _set_items(conn, worker, item.job_id, "failed", "error", [(item.position, error)])
            conn.execute(
                "UPDATE pgsimilar.jobs SET failed = failed + 1, updated_at = now() WHERE id = %s",
                (item.job_id,),
            )
        else:
            _expand(conn, item, children)
        _finalize(conn, item.job_id)


def _expand(conn: Connection[Any], item: ItemRow, children: Sequence[NewItemRow]) -> None:
    row = conn.execute(
        "SELECT max(position) + 1 FROM pgsimilar.job_items WHERE job_id = %s", (item.job_id,)
    ).fetchone()
    _insert_items(conn, item.job_id, row[0] if row else 0, children)
    conn.execute(
        "UPDATE pgsimilar.job_items SET status = 'expanded', payload = NULL, claimed_by = NULL"
        " WHERE job_id = %s AND position = %s",
        (item.job_id, item.position),
    )
    failed = sum(1 for child in children if child.error)
    conn.execute(
        "UPDATE pgsimilar.jobs SET total = total + %s, failed = failed + %s, updated_at = now()"
        " WHERE id = %s",
        (len(children) - 1, failed, item.job_id),
    )


def _finalize(conn: Connection[Any], job_id: uuid.UUID) -> None:
    conn.execute(
        """
        UPDATE pgsimilar.jobs SET
            status = CASE WHEN failed = 0 THEN 'succeeded' WHEN done = 0 THEN 'failed'
                          ELSE 'partially_failed' END,
            finished_at = now(), updated_at = now(), started_at = coalesce(started_at, now())
        WHERE id = %s AND status IN ('queued', 'running')
          AND NOT EXISTS (SELECT 1 FROM pgsimilar.job_items WHERE job_id = %s AND status = 'pending')
        """,
        (job_id, job_id),
    )


def active_items(conn: Connection[Any]) -> int:
    """Pending items of queued and running jobs (for /metrics and the CLI's idle check)."""
    row = conn.execute(
        "SELECT count(*) FROM pgsimilar.job_items i JOIN pgsimilar.jobs j ON j.id = i.job_id"
        " WHERE i.status = 'pending' AND j.status IN ('queued', 'running')"
    ).fetchone()
    return int(row[0]) if row else 0
