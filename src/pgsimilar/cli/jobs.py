"""``pgsimilar jobs`` (list, show, cancel upload jobs) and ``pgsimilar worker`` (process them)."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Annotated, Any

import typer
from rich.table import Table

from ..core.client import Client
from ..core.jobs import Job
from ..core.worker import Worker
from .common import JsonOption, console, open_client, print_json, progress_bar, reports_errors

app = typer.Typer(help="Upload jobs: list them, follow one's progress, cancel one.")
JobIdArgument = Annotated[str, typer.Argument(help="Job id (see jobs list).")]


def job_dict(job: Job) -> dict[str, Any]:
    """A job as JSON (the REST API's shape)."""
    return {
        "id": job.id,
        "namespace": job.namespace,
        "collection": job.collection,
        "status": job.status.value,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "cancelled": job.cancelled,
        "percent": job.percent,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "errors": [{"name": e.name, "reason": e.reason, "source": e.source} for e in job.errors],
    }


@app.command("list")
@reports_errors
def list_(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List upload jobs, newest first."""
    with open_client() as client:
        jobs = client.jobs.list([namespace] if namespace else None, limit=limit)
    if as_json:
        print_json([job_dict(job) for job in jobs])
        return
    table = Table("id", "collection", "status", "done", "failed", "total", "%", "created")
    for job in jobs:
        table.add_row(
            job.id,
            f"{job.namespace}/{job.collection}",
            job.status.value,
            f"{job.done:,}",
            f"{job.failed:,}",
            f"{job.total:,}",
            f"{job.percent:g}",
            job.created_at.isoformat(timespec="seconds"),
        )
    console.print(table if jobs else "no jobs")


def _print_job(job: Job) -> None:
    console.print(
        f"job {job.id} ({job.namespace}/{job.collection}): {job.status.value}, "
        f"{job.done:,} stored, {job.failed:,} failed, {job.cancelled:,} cancelled of {job.total:,} "
        f"({job.percent:g}%)",
        highlight=False,
    )
    for error in job.errors:
        where = f"{error.source}: " if error.source and error.source != error.name else ""
        console.print(f"  [red]failed[/] {where}{error.name}: {error.reason}", highlight=False)


def follow(client: Client, job_id: str, *, quiet: bool = False) -> Job:
    """Poll a job until it finishes, with a progress bar (items/s and time left)."""
    job = client.jobs.get(job_id, max_errors=0)
    with progress_bar(f"job {job.id[:8]}", quiet=quiet) as progress:
        task = progress.add_task("job", total=job.total, rate="")
        while True:
            progress.update(task, total=job.total, completed=job.done + job.failed + job.cancelled)
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:,.1f} items/s" if speed else "")
            if job.finished:
                break
            time.sleep(0.5)
            job = client.jobs.get(job_id, max_errors=0)
    return client.jobs.get(job_id)


@app.command()
@reports_errors
def show(
    job_id: JobIdArgument,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow progress until the job ends.")] = False,
    as_json: JsonOption = False,
) -> None:
    """A job's status, counts and failed items."""
    with open_client() as client:
        job = follow(client, job_id, quiet=as_json) if watch else client.jobs.get(job_id)
    if as_json:
        print_json(job_dict(job))
    else:
        _print_job(job)


@app.command()
@reports_errors
def cancel(job_id: JobIdArgument, as_json: JsonOption = False) -> None:
    """Cancel a queued or running job (items being stored right now may still land)."""
    with open_client() as client:
        job = client.jobs.cancel(job_id)
    if as_json:
        print_json(job_dict(job))
    else:
        _print_job(job)


@reports_errors
def worker(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Worker threads in this process.")] = 1,
    exit_when_idle: Annotated[
        bool, typer.Option("--exit-when-idle", help="Stop once no job has work left (for scripts and tests).")
    ] = False,
) -> None:
    """Process upload jobs until stopped (Ctrl-C or SIGTERM finishes the current batch first).

    Run as many worker processes, on as many machines, as the database can serve: they share the work
    through the job queue in PostgreSQL. A worker that is killed loses nothing: its claims run out
    (PGSIMILAR_JOB_LEASE_SECONDS) and another worker takes its items over.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_client() as client:
            _work(client, threads, exit_when_idle, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _work(client: Client, threads: int, exit_when_idle: bool, stop: threading.Event) -> None:
    workers = [Worker(client) for _ in range(threads)]
    console.print(f"worker {workers[0].name}: {threads} thread(s), waiting for jobs", highlight=False)
    if exit_when_idle:
        while not stop.is_set() and any([w.run_once() for w in workers]):
            pass
        return
    running = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for thread in running:
        thread.start()
    while not stop.wait(0.5):
        pass
    for thread in running:
        thread.join()
