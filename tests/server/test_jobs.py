"""Async jobs: submit, long-poll, cancel, and survive a server restart (SQLite under a tmp data_dir)."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from collections.abc import Callable

from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas
from server_helpers import FakePipeline, LiveServer, pdf_bytes

from tierocr.config import Settings
from tierocr.document import Block, Document, Page, Provenance, Tier
from tierocr.jobs import JobStatus, JobStore


def test_job_runs_to_a_result(live: LiveServer) -> None:
    with live.client() as c:
        submitted = c.post("/api/jobs", files={"file": ("big.pdf", pdf_bytes(3))}, data={"pages": "2-3"})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        assert submitted.headers["location"] == f"/api/jobs/{job_id}"
        done = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"pages_done": 2, "page_count": 2, "pages_failed": 0}
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
        job_id = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(5))}).json()["id"]
        assert entered.wait(30)
        cancelled = c.delete(f"/api/jobs/{job_id}")
        release.set()
        final = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
        again = c.delete(f"/api/jobs/{job_id}")
    assert cancelled.status_code == 200 and final["status"] == "cancelled"
    assert again.status_code == 409
    assert fake.pages_made == 1


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


def _crashed_at_page_3(settings: Settings, pages: int) -> str:
    """What a server killed at page 3 leaves: pages 1-2 checkpointed, page 3 claimed, the rest pending."""
    store = JobStore(settings.data_dir)
    record = store.create(pdf_bytes(pages), "long.pdf", {"format": "md"})
    assert store.mark_running(record.id)
    header = Document(source="long.pdf", mime_type="application/pdf", page_count=pages)
    store.start_pages(record.id, header, list(range(1, pages + 1)))
    for number in (1, 2):
        store.claim_page(record.id, number)
        store.finish_page(record.id, number, _page(number, f"checkpointed page {number}"))
    store.claim_page(record.id, 3)
    store.close()
    return record.id


def test_a_job_killed_at_page_3_of_12_resumes_at_page_3(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    job_id = _crashed_at_page_3(settings, 12)
    read: list[int] = []
    fake = FakePipeline(page_hook=read.append)
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        done = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert read == list(range(3, 13))  # pages 1-2 came from the store, not from a second read
    assert done["progress"] == {"pages_done": 12, "page_count": 12, "pages_failed": 0}
    markdown = done["result"]["markdown"]
    assert "checkpointed page 2" in markdown and "text of page 12" in markdown


def test_a_page_that_keeps_killing_the_server_is_kept_empty_and_the_job_completes(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    settings.server.job_max_attempts = 2
    job_id = _crashed_at_page_3(settings, 5)
    store = JobStore(settings.data_dir)  # a second server started, and died on page 3 again
    assert store.recover(2) == [job_id] and store.mark_running(job_id)
    assert store.claim_page(job_id, 3) == 2
    store.close()
    read: list[int] = []
    server = start_server(settings, pipeline_factory=FakePipeline(page_hook=read.append).factory)
    with server.client() as c:
        done = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
        rows = server.app.state.tierocr.store.pages.pages(job_id)
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"pages_done": 5, "page_count": 5, "pages_failed": 1}
    assert read == [4, 5]
    markdown = done["result"]["markdown"]
    assert "checkpointed page 1" in markdown and "text of page 5" in markdown
    assert [(r.number, r.status, r.attempts) for r in rows if r.status != "done"] == [(3, "dead", 2)]
    assert rows[2].error == "the process stopped while this page was being read, 2 time(s)"


def test_a_page_that_cannot_be_read_is_retried_then_kept_with_its_error(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    settings.layout.enabled = False
    settings.input.max_image_pixels = 10_000_000  # the poisoned page renders to 16 Mpx
    settings.batch.backoff_s = 0.0
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=letter)
    for size in (letter, (2880, 2880), letter):
        c.setPageSize(size)
        c.drawString(72, 700, "Readable text on this page, in the text layer.")
        c.showPage()
    c.save()
    server = start_server(settings)  # the real pipeline
    with server.client() as client:
        job_id = client.post("/api/jobs", files={"file": ("p.pdf", buffer.getvalue())}).json()["id"]
        done = client.get(f"/api/jobs/{job_id}", params={"wait": 60}).json()
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"pages_done": 3, "page_count": 3, "pages_failed": 1}
    pages = done["result"]["document"]["pages"]
    assert [bool(p["errors"]) for p in pages] == [False, True, False]
    assert "over the limit" in pages[1]["errors"][0]["message"]


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
        job_id = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(3))}).json()["id"]
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
    assert interrupted.pages_done == 1  # the page being read when asked to stop was finished and kept
    read: list[int] = []
    second = start_server(settings, pipeline_factory=FakePipeline(page_hook=read.append).factory)
    with second.client() as c:
        final = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    assert final["status"] == "succeeded" and final["attempts"] == 1
    assert read == [2, 3]


def _page(number: int, text: str) -> Page:
    block = Block(text=text, provenance=Provenance(tier=Tier.OCR, engine="fake"))
    return Page(number=number, width=100, height=100, dpi=72, tier=Tier.OCR, blocks=[block])


_OLD_SCHEMA = """CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, name TEXT NOT NULL,
options TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
attempts INTEGER NOT NULL DEFAULT 0, pages_done INTEGER NOT NULL DEFAULT 0, page_count INTEGER,
error TEXT, result TEXT)"""


def test_jobs_of_the_first_store_are_carried_over(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    root = settings.data_dir / "jobs"
    (root / "inputs").mkdir(parents=True)
    done_id, running_id = "a" * 32, "b" * 32
    (root / "inputs" / running_id).write_bytes(pdf_bytes(1))
    old = sqlite3.connect(root / "jobs.sqlite3")
    old.execute(_OLD_SCHEMA)
    result = {"source": "old.pdf", "page_count": 1, "pages_parsed": 1, "markdown": "from before\n"}
    old.execute(
        "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (done_id, "succeeded", "old.pdf", '{"format": "md"}', 1.0, 2.0, 1, 1, 1, None, json.dumps(result)),
    )
    old.execute(
        "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (running_id, "running", "cut.pdf", '{"format": "md"}', 3.0, 4.0, 1, 0, None, None, None),
    )
    old.commit()
    old.close()
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        kept = c.get(f"/api/jobs/{done_id}").json()
        resumed = c.get(f"/api/jobs/{running_id}", params={"wait": 20}).json()
        listed = [j["id"] for j in c.get("/api/jobs").json()["jobs"]]
    assert kept["status"] == "succeeded" and kept["result"] == result and kept["created_at"] == 1.0
    assert resumed["status"] == "succeeded" and resumed["attempts"] == 2
    assert resumed["result"]["markdown"].strip() == "text of page 1"
    assert listed == [running_id, done_id]
    assert not (root / "jobs.sqlite3").exists() and (root / "jobs.sqlite3.imported").is_file()


def test_a_job_over_the_page_limit_fails_before_any_page_is_read(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.server.max_job_pages = 2
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        job_id = c.post("/api/jobs", files={"file": ("big.pdf", pdf_bytes(3))}).json()["id"]
        record = c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()
    assert (
        record["status"] == "failed" and "3 pages selected, over this server's limit of 2" in record["error"]
    )
    assert fake.pages_made == 0
