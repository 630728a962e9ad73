"""The job store's step semantics, the same on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierocr.batch.locks import RunBusyError
from tierocr.batch.records import NewDocument
from tierocr.batch.schema import DocStatus, PageStatus
from tierocr.batch.store import PageStore
from tierocr.document import Block, Document, Page, PageError, Provenance, Tier


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PageStore:
    db = str(tmp_path / "store.sqlite3") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = PageStore(db)
    request.addfinalizer(opened.close)
    return opened


def _page(number: int, text: str, tier: Tier = Tier.OCR) -> Page:
    block = Block(text=text, provenance=Provenance(tier=tier, engine="test"))
    return Page(
        number=number, width=100, height=100, dpi=72, tier=tier, blocks=[block], timings={"total": 0.5}
    )


def _doc(store: PageStore, pages: int = 3) -> str:
    store.add_documents("run", [NewDocument("d1", "/in/a.pdf", "a.pdf", {}, 0, "a")])
    header = Document(source="a.pdf", mime_type="application/pdf", page_count=pages)
    store.start_document("d1", header, list(range(1, pages + 1)))
    return "d1"


def test_a_page_is_finished_once_and_read_back_whole(store: PageStore) -> None:
    doc = _doc(store)
    assert store.claim_page(doc, 2) == 1
    assert store.claim_page(doc, 2) is None  # already running: nobody else gets it
    page = _page(2, "Grüße, page two")
    assert store.finish_page(doc, 2, page)
    assert not store.finish_page(doc, 2, _page(2, "a second result"))  # nothing done twice
    back = list(store.page_results(doc, 72.0))
    assert [p.number for p in back] == [1, 2, 3]
    assert back[1] == page
    assert back[0].errors[0].message == "not read"  # an unfinished page is never passed off as read
    # the header is recorded once: a resumed document keeps its rows and states
    store.start_document(doc, Document(source="x", mime_type="application/pdf", page_count=9), [1])
    assert [p.status for p in store.pages(doc)] == [PageStatus.PENDING, PageStatus.DONE, PageStatus.PENDING]
    header = store.header(doc)
    assert header is not None and header.page_count == 3


def test_failures_wait_then_go_to_the_dead_letter_list(store: PageStore) -> None:
    doc = _doc(store)
    store.claim_page(doc, 1)
    assert store.fail_page(doc, 1, "engine crashed", retry_at=1e12)
    row = store.pages(doc)[0]
    assert row.status is PageStatus.PENDING and row.not_before == 1e12 and row.error == "engine crashed"
    assert store.claim_page(doc, 1) == 2
    failed = _page(1, "")
    failed.errors.append(PageError(stage="ocr", message="engine crashed again"))
    assert store.fail_page(doc, 1, "engine crashed again", retry_at=None, page=failed)
    row = store.pages(doc)[0]
    assert row.status is PageStatus.DEAD and row.attempts == 2
    assert next(store.page_results(doc, 72.0)).errors[0].message == "engine crashed again"
    record = store.document(doc)
    assert record is not None and (record.pages_total, record.pages_finished, record.pages_dead) == (3, 1, 1)
    assert store.retry_dead([doc]) == 1
    row = store.pages(doc)[0]
    assert (row.status, row.attempts) == (PageStatus.PENDING, 0)


def test_pages_a_dead_process_left_running_are_retried_until_out_of_tries(store: PageStore) -> None:
    doc = _doc(store)
    store.claim_page(doc, 1)  # one try used, then the process died
    store.claim_page(doc, 3)
    store.finish_page(doc, 3, _page(3, "done before the crash"))
    assert store.recover_pages([doc], max_attempts=2) == (1, 0)
    assert store.claim_page(doc, 1) == 2  # and it died again under the same page
    assert store.recover_pages([doc], max_attempts=2) == (0, 1)
    rows = {row.number: row for row in store.pages(doc)}
    assert rows[1].status is PageStatus.DEAD and "stopped while this page was being read, 2" in (
        rows[1].error or ""
    )
    assert rows[3].status is PageStatus.DONE and rows[3].attempts == 1
    # a clean stop gives the try back
    store.claim_page(doc, 2)
    assert store.release_page(doc, 2)
    assert store.pages(doc)[1].attempts == 0


def test_documents_are_queued_once_and_listed_in_order(store: PageStore) -> None:
    docs = [NewDocument(f"d{n}", f"/in/{n}.pdf", f"{n}.pdf", {"pages": None}, n, str(n)) for n in range(3)]
    assert store.add_documents("run", docs) == 3
    assert store.add_documents("run", docs[1:]) == 0
    assert [d.id for d in store.documents("run")] == ["d0", "d1", "d2"]
    assert store.claim_document("d1") and not store.claim_document("d1")
    assert store.update_document("d1", where=[DocStatus.RUNNING], status=DocStatus.SUCCEEDED, result={"a": 1})
    assert store.document_result("d1") == {"a": 1}
    assert [d.id for d in store.documents("run", statuses=[DocStatus.QUEUED])] == ["d0", "d2"]


def test_a_run_is_held_by_one_process(store: PageStore, tmp_path: Path) -> None:
    with store.lock_run("run"):
        other = PageStore(store.label)
        try:
            with pytest.raises(RunBusyError, match="in use by another tierocr process"):
                other.lock_run("run")
            other.lock_run("another-run").release()
        finally:
            other.close()
    store.lock_run("run").release()  # released with the block


def test_api_jobs_keep_their_pages_in_postgresql(tmp_path: Path, pg_url: str) -> None:
    """server.jobs_db: the API's jobs in the same schema on a real PostgreSQL; a crash resumes there too."""
    from tierocr.jobs import JobStatus, JobStore

    jobs = JobStore(tmp_path / "data", db=pg_url)
    record = jobs.create(b"%PDF-1.7 stand-in", "scan.pdf", {"format": "md"})
    assert jobs.mark_running(record.id)
    jobs.start_pages(
        record.id, Document(source="scan.pdf", mime_type="application/pdf", page_count=3), [1, 2, 3]
    )
    jobs.claim_page(record.id, 1)
    jobs.finish_page(record.id, 1, _page(1, "first"))
    jobs.claim_page(record.id, 2)  # the server dies here
    jobs.close()
    again = JobStore(tmp_path / "data", db=pg_url)
    assert again.recover(max_attempts=3) == [record.id]
    assert [p.number for p in again.unfinished_pages(record.id)] == [2, 3]
    resumed = again.get(record.id)
    assert resumed is not None and resumed.status is JobStatus.QUEUED
    assert (resumed.pages_done, resumed.page_count, resumed.attempts) == (1, 3, 1)
    assert not (tmp_path / "data" / "jobs" / "store.sqlite3").exists()
    again.close()
