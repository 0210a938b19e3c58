"""Upload jobs in the library: items, unpacking, per-item errors, cancel, re-uploads, lost workers.

Jobs are driven by a :class:`Worker` called in the test (``drain``), so each step is deterministic.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile
from collections.abc import Iterator

import pytest

from pgsimilar import Client, Collection
from pgsimilar.config import Settings
from pgsimilar.core.jobs import Job, JobStatus, UploadedFile, UrlToFetch
from pgsimilar.core.worker import Worker
from pgsimilar.errors import InvalidInput, JobFinished, JobNotFound
from pgsimilar.storage import jobs as job_sql

from .api_helpers import variant
from .fashion_mnist import fashion_test_set, zip_of_pngs
from .fashion_mnist import png as png_of


def drain(client: Client, job_id: str, *, worker: Worker | None = None, rounds: int = 200) -> Job:
    """Run a worker until the job has finished."""
    worker = worker or Worker(client)
    for _ in range(rounds):
        job = client.jobs.get(job_id)
        if job.finished:
            return job
        if not worker.run_once():
            time.sleep(0.05)  # another test's worker may hold the items for a moment
    raise AssertionError(f"job {job_id} did not finish: {client.jobs.get(job_id)}")


@pytest.fixture(scope="module")
def pngs() -> list[bytes]:
    pixels, _ = fashion_test_set(40)
    return [png_of(image) for image in pixels]


@pytest.fixture
def images(client: Client, unique_name: str) -> Iterator[Collection]:
    collection = client.create_collection(unique_name, embedder="minilm-vision")
    yield collection
    client.drop_collection(unique_name, missing_ok=True)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members: list[tarfile.TarInfo], data: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for member in members:
            payload = data.get(member.name)
            if payload is not None:
                member.size = len(payload)
            archive.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def errors_by_name(job: Job) -> dict[str, str]:
    return {error.name: error.reason for error in job.errors}


def test_images_are_stored_with_content_ids_and_the_uploads_metadata(
    client: Client, images: Collection, pngs: list[bytes]
) -> None:
    files = [UploadedFile(f"shot-{n}.png", data) for n, data in enumerate(pngs[:3])]
    job = client.jobs.upload(images, files=files, metadata={"batch": "one"})
    assert job.status is JobStatus.QUEUED and job.total == 3 and job.percent == 0
    job = drain(client, job.id)
    assert (job.status, job.done, job.failed, job.percent) == (JobStatus.SUCCEEDED, 3, 0, 100.0)
    assert job.started_at is not None and job.finished_at is not None and not job.errors
    assert images.count() == 3
    hits = images.search(image=pngs[0], k=1)
    assert hits[0].metadata == {"file_name": "shot-0.png", "batch": "one"}
    assert len(hits[0].id) == 32


def test_an_archive_with_a_sidecar_is_unpacked_and_uploading_it_again_adds_nothing(
    client: Client, images: Collection
) -> None:
    archive, pngs, _ = zip_of_pngs(30)
    job = drain(client, client.jobs.upload(images, files=[UploadedFile("fashion.zip", archive)]).id)
    assert (job.status, job.total, job.done) == (JobStatus.SUCCEEDED, 30, 30)
    assert images.count() == 30
    record = images.search(image=pngs[3], k=1)[0]
    assert record.metadata["label"] and record.metadata["file_name"].startswith("images/")

    again = drain(client, client.jobs.upload(images, files=[UploadedFile("fashion.zip", archive)]).id)
    assert (again.status, again.done) == (JobStatus.SUCCEEDED, 30)
    assert images.count() == 30


def test_sidecar_ids_are_used_as_record_ids(client: Client, images: Collection, pngs: list[bytes]) -> None:
    sidecar = json.dumps({"a.png": {"id": "first", "colour": "grey"}, "sub/b.png": {"id": "second"}})
    archive = zip_bytes({"a.png": pngs[0], "sub/b.png": pngs[1], "metadata.json": sidecar.encode()})
    drain(client, client.jobs.upload(images, files=[UploadedFile("x.zip", archive)]).id)
    assert sorted(record.id for record in images.get_many(["first", "second"])) == ["first", "second"]
    assert images.get("first").metadata == {"file_name": "a.png", "colour": "grey"}


def test_bad_archive_members_fail_alone_and_the_rest_is_stored(
    client: Client, images: Collection, pngs: list[bytes]
) -> None:
    inner_inner = zip_bytes({"deep.png": pngs[4]})
    inner = zip_bytes({"inner.png": pngs[3], "deeper.zip": inner_inner})
    archive = zip_bytes(
        {
            "good.png": pngs[0],
            "../escape.png": pngs[1],
            "/etc/absolute.png": pngs[2],
            "corrupt.png": pngs[0][:60],
            "program.exe": b"MZ\x90\x00not an image",
            "nested.zip": inner,
        }
    )
    job = drain(client, client.jobs.upload(images, files=[UploadedFile("mixed.zip", archive)]).id)
    assert job.status is JobStatus.PARTIALLY_FAILED
    assert (job.done, job.failed) == (2, 5), job.errors
    errors = errors_by_name(job)
    assert "escape" in errors["../escape.png"] or ".." in errors["../escape.png"]
    assert "/etc/absolute.png" in errors
    assert "corrupt" in errors["corrupt.png"] or "truncated" in errors["corrupt.png"]
    assert "unsupported file type '.exe'" in errors["program.exe"]
    assert "nested" in next(reason for name, reason in errors.items() if "deeper.zip" in name)
    assert all(error.source == "mixed.zip" for error in job.errors)
    stored = {hit.metadata["file_name"] for hit in images.search(image=pngs[0], k=10)}
    assert stored == {"good.png", "nested.zip/inner.png"}


def test_links_and_devices_in_a_tar_are_refused(
    client: Client, images: Collection, pngs: list[bytes]
) -> None:
    good = tarfile.TarInfo("good.png")
    link = tarfile.TarInfo("link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard.png")
    hard.type, hard.linkname = tarfile.LNKTYPE, "good.png"
    device = tarfile.TarInfo("device.png")
    device.type = tarfile.CHRTYPE
    fifo = tarfile.TarInfo("fifo.png")
    fifo.type = tarfile.FIFOTYPE
    archive = tar_bytes([good, link, hard, device, fifo], {"good.png": pngs[0]})
    job = drain(client, client.jobs.upload(images, files=[UploadedFile("links.tar.gz", archive)]).id)
    assert (job.status, job.done, job.failed) == (JobStatus.PARTIALLY_FAILED, 1, 4)
    assert set(errors_by_name(job)) == {"link.png", "hard.png", "device.png", "fifo.png"}
    assert "link" in errors_by_name(job)["link.png"]


def test_a_zip_bomb_fails_as_one_item_and_other_files_carry_on(
    client: Client, images: Collection, pngs: list[bytes]
) -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.png", "w") as member,
    ):
        for _ in range(64):
            member.write(bytes(1024 * 1024))  # 64 MiB of zeros: about 64 KiB packed, a ratio near 1000
    files = [UploadedFile("bomb.zip", buffer.getvalue()), UploadedFile("fine.png", pngs[0])]
    job = drain(client, client.jobs.upload(images, files=files).id)
    assert (job.status, job.done, job.failed) == (JobStatus.PARTIALLY_FAILED, 1, 1)
    assert job.errors[0].name == "bomb.zip"
    assert "ratio" in job.errors[0].reason or "limit" in job.errors[0].reason


def test_empty_files_and_empty_archives_are_item_errors(
    client: Client, images: Collection, pngs: list[bytes]
) -> None:
    empty_zip = zip_bytes({})
    files = [
        UploadedFile("nothing.png", b""),
        UploadedFile("empty.zip", empty_zip),
        UploadedFile("ok.png", pngs[0]),
    ]
    job = drain(client, client.jobs.upload(images, files=files).id)
    assert (job.done, job.failed) == (1, 2)
    assert "empty" in errors_by_name(job)["nothing.png"]
    assert "empty.zip" in errors_by_name(job)


def test_an_archive_over_the_item_limit_fails_and_too_many_files_are_refused(
    settings: Settings, images: Collection, pngs: list[bytes]
) -> None:
    with Client(settings=variant(settings, max_upload_items=5)) as small:
        target = small.get_collection(images.name)
        archive = zip_bytes({f"{n}.png": data for n, data in enumerate(pngs[:6])})
        job = drain(small, small.jobs.upload(target, files=[UploadedFile("six.zip", archive)]).id)
        assert job.status is JobStatus.FAILED and "5" in job.errors[0].reason
        with pytest.raises(InvalidInput, match="at most 5 items"):
            small.jobs.upload(target, files=[UploadedFile(f"{n}.png", d) for n, d in enumerate(pngs[:6])])
        with pytest.raises(InvalidInput, match="at least one"):
            small.jobs.upload(target)
    assert images.count() == 0


def test_records_files_fail_line_by_line(client: Client, text_collection: Collection) -> None:
    jsonl = "\n".join(
        [
            json.dumps({"id": "a", "text": "a cup of espresso", "metadata": {"kind": "drink"}}),
            "{not json",
            json.dumps({"id": "b", "text": ""}),
            json.dumps({"text": "tea without an id gets one from its content"}),
            json.dumps(["not", "an", "object"]),
        ]
    )
    csv_text = "id,text,colour\nc,a red bicycle,red\nd,a blue boat,blue\n"
    files = [
        UploadedFile("notes.jsonl", jsonl.encode()),
        UploadedFile("things.csv", csv_text.encode()),
        UploadedFile("readme.txt", b"pgsimilar keeps vectors next to the data"),
    ]
    job = drain(client, client.jobs.upload(text_collection, files=files, metadata={"from": "upload"}).id)
    assert (job.status, job.total, job.done, job.failed) == (JobStatus.PARTIALLY_FAILED, 8, 5, 3)
    errors = errors_by_name(job)
    assert set(errors) == {"notes.jsonl:2", "notes.jsonl:3", "notes.jsonl:5"}
    assert "not valid JSON" in errors["notes.jsonl:2"]
    assert text_collection.get("a").metadata == {"kind": "drink", "from": "upload"}
    assert text_collection.get("c").metadata == {"colour": "red", "from": "upload"}
    assert text_collection.get("readme").content == "pgsimilar keeps vectors next to the data"
    assert text_collection.count() == 5


def test_text_records_uploaded_to_an_image_model_collection_are_item_errors(
    client: Client, unique_name: str
) -> None:
    ids_only = client.create_collection(unique_name, embedder="none", dimensions=3)
    try:
        job = drain(client, client.jobs.upload(ids_only, files=[UploadedFile("a.png", b"\x89PNG broken")]).id)
        assert job.status is JobStatus.FAILED and job.errors[0].name == "a.png"
    finally:
        client.drop_collection(unique_name)


def test_cancel_stops_a_queued_job(client: Client, images: Collection, pngs: list[bytes]) -> None:
    job = client.jobs.upload(images, files=[UploadedFile(f"{n}.png", d) for n, d in enumerate(pngs[:5])])
    assert client.jobs.pending_items() >= 5
    cancelled = client.jobs.cancel(job.id)
    assert (cancelled.status, cancelled.cancelled, cancelled.percent) == (JobStatus.CANCELLED, 5, 100.0)
    assert Worker(client).run_once() == 0 or client.jobs.get(job.id).done == 0
    assert images.count() == 0
    with pytest.raises(JobFinished):
        client.jobs.cancel(job.id)
    with pytest.raises(JobNotFound):
        client.jobs.get("not-a-uuid")
    with pytest.raises(JobNotFound):
        client.jobs.get("00000000-0000-0000-0000-000000000000")


def test_a_lost_worker_s_items_are_taken_over_and_counted_once(
    settings: Settings, images: Collection, pngs: list[bytes]
) -> None:
    with Client(settings=variant(settings, job_lease_seconds=0.5, job_batch_size=4)) as fast:
        target = fast.get_collection(images.name)
        job = fast.jobs.upload(target, files=[UploadedFile(f"{n}.png", d) for n, d in enumerate(pngs[:10])])
        with fast.database.connection() as conn:  # a worker claims items, then dies without a word
            claim = job_sql.claim_items(conn, "dead-worker", 4, 0.5)
        assert claim is not None and claim.job_id.hex == job.id.replace("-", "")
        time.sleep(0.6)
        finished = drain(fast, job.id)
        assert (finished.status, finished.done, finished.failed, finished.total) == (
            JobStatus.SUCCEEDED,
            10,
            0,
            10,
        )
        with fast.database.connection() as conn:  # the dead worker's late report changes nothing
            job_sql.finish_items(conn, "dead-worker", claim.job_id, [(0, "x")], [(1, "late")])
        assert fast.jobs.get(job.id).done == 10
    assert images.count() == 10


def test_an_item_that_keeps_killing_workers_fails_after_the_attempt_limit(
    settings: Settings, images: Collection, pngs: list[bytes]
) -> None:
    with Client(settings=variant(settings, job_lease_seconds=0.2, job_max_attempts=2)) as fast:
        target = fast.get_collection(images.name)
        job = fast.jobs.upload(target, files=[UploadedFile("poison.png", pngs[0])])
        for _ in range(2):
            with fast.database.connection() as conn:
                assert job_sql.claim_items(conn, "doomed", 1, 0.2) is not None
            time.sleep(0.3)
        finished = drain(fast, job.id)
        assert finished.status is JobStatus.FAILED
        assert "stopped" in finished.errors[0].reason and "2 attempts" in finished.errors[0].reason


def test_urls_are_fetched_and_private_addresses_refused(
    client: Client, settings: Settings, images: Collection, picture_server: str
) -> None:
    urls = [UrlToFetch(f"{picture_server}/shirt.png", id="from-url", metadata={"via": "url"})]
    urls += [UrlToFetch("ftp://example.com/a.png"), UrlToFetch(f"{picture_server}/missing.png")]
    with Client(settings=variant(settings, url_allow_private_addresses=True)) as allowed:
        job = drain(allowed, allowed.jobs.upload(allowed.get_collection(images.name), urls=urls).id)
    assert (job.done, job.failed) == (1, 2)
    assert images.get("from-url").metadata == {
        "url": f"{picture_server}/shirt.png",
        "via": "url",
        "file_name": "shirt.png",
    }
    assert "404" in errors_by_name(job)[f"{picture_server}/missing.png"]
    refused = drain(client, client.jobs.upload(images, urls=urls[:1]).id)  # default settings: refused
    assert refused.status is JobStatus.FAILED
    assert "PGSIMILAR_URL_ALLOW_PRIVATE_ADDRESSES" in refused.errors[0].reason


@pytest.fixture(scope="module")
def picture_server() -> Iterator[str]:
    """A local HTTP server with one picture (URLs on loopback: allowed only when the setting says so)."""
    import http.server
    import threading

    pixels, _ = fashion_test_set(1)
    picture = png_of(pixels[0])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/shirt.png":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(picture)))
            self.end_headers()
            self.wfile.write(picture)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
