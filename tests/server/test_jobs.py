"""Async jobs: submit, long-poll, cancel, and survive a server restart (SQLite under a tmp data_dir)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from server_helpers import FakePipeline, LiveServer, pdf_bytes

from tierocr.config import Settings
from tierocr.jobs import JobStatus, JobStore


def test_job_runs_to_a_result(live: LiveServer) -> None:
    with live.client() as c:
        submitted = c.post("/api/jobs", files={"file": ("big.pdf", pdf_bytes(1))}, data={"pages": "2-3"})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        assert submitted.headers["location"] == f"/api/jobs/{job_id}"
        done = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"pages_done": 2, "page_count": 2}
    assert [p["number"] for p in done["result"]["document"]["pages"]] == [2, 3]
    assert "text of page 3" in done["result"]["markdown"]


def test_unknown_and_malformed_job_ids_are_404(live: LiveServer) -> None:
    with live.client() as c:
        assert c.get("/api/jobs/" + "f" * 32).status_code == 404
        assert c.get("/api/jobs/..%2F..%2Fetc%2Fpasswd").status_code == 404
        assert c.delete("/api/jobs/nope").status_code == 404


def test_job_failure_is_reported_with_the_reason(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(settings)  # the real pipeline refuses the range once the PDF is open
    with server.client() as c:
        job_id = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(1))}, data={"pages": "5"}).json()[
            "id"
        ]
        record = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    assert record["status"] == "failed"
    assert "asks for page 5" in record["error"]


def test_cancel_a_running_job(settings: Settings, start_server: Callable[..., LiveServer]) -> None:
    entered, release = threading.Event(), threading.Event()

    def hook(number: int) -> None:
        if number == 1:
            entered.set()
            assert release.wait(30)

    fake = FakePipeline(page_count=5, page_hook=hook)
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        job_id = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(1))}).json()["id"]
        assert entered.wait(30)
        cancelled = c.delete(f"/api/jobs/{job_id}")
        release.set()
        final = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
        again = c.delete(f"/api/jobs/{job_id}")
    assert cancelled.status_code == 200 and final["status"] == "cancelled"
    assert again.status_code == 409
    assert fake.closed.wait(30) and fake.pages_made == 1


def test_result_survives_a_restart(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    first = start_server(settings, pipeline_factory=fake.factory)
    with first.client() as c:
        job_id = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(1))}, data={"format": "json"}).json()[
            "id"
        ]
        before = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    first.stop()
    assert before["status"] == "succeeded"
    second = start_server(settings, pipeline_factory=FakePipeline().factory)
    with second.client() as c:
        after = c.get(f"/api/jobs/{job_id}").json()
    assert after["status"] == "succeeded" and after["result"] == before["result"]
    assert "markdown" not in after["result"]
    assert not (settings.data_dir / "jobs" / "inputs" / job_id).exists()  # input dropped once done


def test_job_running_when_the_server_died_is_resumed(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    # What a crash leaves behind: a job marked running (one attempt used) with its input on disk.
    store = JobStore(settings.data_dir)
    record = store.create(pdf_bytes(1), "crashed.pdf", {"pages": "1", "format": "md"})
    assert store.mark_running(record.id)
    store.close()
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        resumed = c.get(f"/api/jobs/{record.id}", params={"wait": 20}).json()
    assert resumed["status"] == "succeeded" and resumed["attempts"] == 2
    assert resumed["result"]["markdown"].strip() == "text of page 1"


def test_job_out_of_attempts_is_failed_on_start(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.server.job_max_attempts = 1
    store = JobStore(settings.data_dir)
    record = store.create(pdf_bytes(1), "poison.pdf", {})
    assert store.mark_running(record.id)
    store.close()
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        final = c.get(f"/api/jobs/{record.id}").json()
    assert final["status"] == JobStatus.FAILED and "stopped while this job ran" in final["error"]
    assert fake.sources == []


def test_graceful_shutdown_requeues_without_spending_an_attempt(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hook(number: int) -> None:
        if number == 1:
            entered.set()
            assert release.wait(30)

    blocked = FakePipeline(page_count=3, page_hook=hook)
    first = start_server(settings, pipeline_factory=blocked.factory)
    with first.client() as c:
        job_id = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(1))}).json()["id"]
    assert entered.wait(30)
    runner = first.app.state.tierocr.runner
    request_stop = runner.request_stop

    def spy() -> None:
        request_stop()
        release.set()  # only now may page 1 end: the worker then sees the stop and puts the job back

    runner.request_stop = spy
    first.stop()
    store = JobStore(settings.data_dir)
    interrupted = store.get(job_id)
    store.close()
    assert interrupted is not None and interrupted.status == JobStatus.QUEUED and interrupted.attempts == 0
    second = start_server(settings, pipeline_factory=FakePipeline().factory)
    with second.client() as c:
        final = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    assert final["status"] == "succeeded" and final["attempts"] == 1
