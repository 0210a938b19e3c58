"""``pgsimilar worker`` as real processes: one is killed with SIGKILL in the middle of a job, another takes
over, and every item ends up stored exactly once. Also ``pgsimilar jobs`` on the command line."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgsimilar import Client, Collection
from pgsimilar.config import Settings
from pgsimilar.core.jobs import JobStatus, UploadedFile

from .cli_helpers import Cli
from .fashion_mnist import zip_of_pngs
from .test_serve import PGSIMILAR, server_env

TIMEOUT = 300.0


@pytest.fixture
def pictures(client: Client, unique_name: str) -> Iterator[Collection]:
    collection = client.create_collection(unique_name, embedder="minilm-vision")
    yield collection
    client.drop_collection(unique_name, missing_ok=True)


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = server_env(settings, PGSIMILAR_JOB_LEASE_SECONDS="3", PGSIMILAR_JOB_BATCH_SIZE="16")
    with log.open("ab") as out:
        return subprocess.Popen([str(PGSIMILAR), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)


def held_claims(client: Client, job_id: str) -> int:
    """Items of the job a worker is holding right now."""
    with client.database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pgsimilar.job_items WHERE job_id = %s AND status = 'pending'"
            " AND claimed_by IS NOT NULL AND claim_expires_at > now()",
            (job_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def wait(condition_met: object, what: str, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not callable(condition_met) or not condition_met():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


def test_a_worker_killed_mid_job_loses_nothing_and_stores_nothing_twice(
    settings: Settings, client: Client, pictures: Collection, tmp_path: Path
) -> None:
    archive, _, _ = zip_of_pngs(200)
    job = client.jobs.upload(pictures, files=[UploadedFile("fashion.zip", archive)])
    log = tmp_path / "workers.log"

    first = start_worker(settings, log)
    try:
        # Kill it while it holds a batch, after it has stored some of the job.
        wait(lambda: client.jobs.get(job.id).done >= 32 and held_claims(client, job.id) > 0, "progress", log)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        first.kill()
    stranded = held_claims(client, job.id)
    halfway = client.jobs.get(job.id)
    assert stranded > 0, "the worker was not holding items when it was killed"
    assert halfway.status is JobStatus.RUNNING and 0 < halfway.done < 200

    second = start_worker(settings, log)
    try:
        wait(lambda: client.jobs.get(job.id).finished, "the job to finish", log)
        second.send_signal(signal.SIGTERM)  # a graceful stop: finishes its batch and exits 0
        assert second.wait(60) == 0, log.read_text(errors="replace")
    finally:
        second.kill()

    done = client.jobs.get(job.id)
    assert (done.status, done.total, done.done, done.failed) == (JobStatus.SUCCEEDED, 200, 200, 0), (
        done.errors
    )
    assert pictures.count() == 200  # 200 distinct pictures, each stored once (ids come from content)
    with client.database.connection() as conn:
        rows = conn.execute(
            "SELECT count(DISTINCT record_id), max(attempts), count(*) FILTER (WHERE payload IS NOT NULL)"
            " FROM pgsimilar.job_items WHERE job_id = %s AND status = 'done'",
            (job.id,),
        ).fetchone()
    assert rows is not None
    distinct_ids, most_attempts, payloads_left = rows
    assert distinct_ids == 200 and payloads_left == 0
    assert most_attempts == 2  # the killed worker's batch was claimed a second time


def test_jobs_commands_list_show_cancel_and_a_worker_that_exits_when_idle(
    cli: Cli, client: Client, pictures: Collection
) -> None:
    archive, _, _ = zip_of_pngs(3)
    queued = client.jobs.upload(pictures, files=[UploadedFile("three.zip", archive)])
    doomed = client.jobs.upload(pictures, files=[UploadedFile("bad.png", b"not a picture")])
    cancelled = client.jobs.upload(pictures, files=[UploadedFile("later.png", b"later")])

    result = cli("jobs", "cancel", cancelled.id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "cancelled"
    assert cli("jobs", "cancel", cancelled.id).exit_code != 0  # finished already

    result = cli("worker", "--exit-when-idle")
    assert result.exit_code == 0, result.output
    shown = json.loads(cli("jobs", "show", queued.id, "--json").output)
    assert (shown["status"], shown["done"], shown["percent"]) == ("succeeded", 3, 100.0)
    failed = cli("jobs", "show", doomed.id)
    assert "failed" in failed.output and "bad.png" in failed.output

    listed = json.loads(cli("jobs", "list", "--namespace", pictures.namespace, "--json").output)
    assert {queued.id, doomed.id, cancelled.id} <= {job["id"] for job in listed}
    watched = cli("jobs", "show", queued.id, "--watch", "--json")
    assert watched.exit_code == 0 and json.loads(watched.output)["status"] == "succeeded"
    assert cli("jobs", "show", "no-such-job").exit_code != 0


def test_add_takes_archives_through_the_job_path(
    cli: Cli, pictures: Collection, tmp_path: Path, client: Client
) -> None:
    archive, _, _ = zip_of_pngs(5)
    path = tmp_path / "fashion.zip"
    path.write_bytes(_appended(archive, "../evil.png", b"x"))
    result = cli("add", pictures.name, str(path), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["status"], summary["stored"], summary["failed"]) == ("partially_failed", 5, 1)
    assert summary["errors"][0]["name"] == "../evil.png"
    assert pictures.count() == 5
    again = cli("add", pictures.name, str(path))
    assert "5 stored, 1 failed" in again.output and pictures.count() == 5


def _appended(archive: bytes, name: str, data: bytes) -> bytes:
    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a") as extended:
        extended.writestr(name, data)
    return buffer.getvalue()
