"""Async jobs in the batch job store, page by page, so a job outlives the process that runs it.

A job is a document of the store's ``api`` run (SQLite under ``<data_dir>/jobs/`` by default, or the
PostgreSQL database of ``server.jobs_db``), and each of its pages a checkpointed step: a server killed
at page 3 of 12 resumes the job at page 4 when it starts again. The input is kept under
``<data_dir>/jobs/inputs/`` by a name we generate (the job id), never one taken from the request, and
is deleted once the job reaches a final state. Every change is reported to an ``on_change`` callback,
so waiters are woken rather than polling.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tierocr.batch.records import DocRecord, NewDocument, PageRecord
from tierocr.batch.schema import API_RUN, DOC_FINAL, DocStatus, PageStatus
from tierocr.batch.store import PageStore
from tierocr.document import Document, Page
from tierocr.jobs.datadir import storage_error
from tierocr.jobs.legacy import import_legacy_jobs

#: A job's states are its document's.
JobStatus = DocStatus
FINAL = DOC_FINAL

_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    status: JobStatus
    name: str
    options: dict[str, Any]
    created_at: float
    updated_at: float
    attempts: int
    pages_done: int
    page_count: int | None
    pages_failed: int
    error: str | None
    result: dict[str, Any] | None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def public(self, *, with_result: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": str(self.status),
            "name": self.name,
            "options": self.options,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "attempts": self.attempts,
            "progress": {
                "pages_done": self.pages_done,
                "page_count": self.page_count,
                "pages_failed": self.pages_failed,
            },
            "error": self.error,
        }
        if with_result:
            out["result"] = self.result
        return out


def _record(doc: DocRecord, result: dict[str, Any] | None) -> JobRecord:
    return JobRecord(
        id=doc.id,
        status=doc.status,
        name=doc.name,
        options=doc.options,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
        attempts=doc.attempts,
        pages_done=doc.pages_finished,
        page_count=doc.pages_total or doc.page_count,
        pages_failed=doc.pages_dead,
        error=doc.error,
        result=result,
    )


class JobStore:
    """Thread-safe: the page store pools its connections and every change is one conditional update."""

    def __init__(
        self, data_dir: Path, on_change: Callable[[str], None] | None = None, db: str | None = None
    ) -> None:
        self.root = Path(data_dir) / "jobs"
        self.inputs = self.root / "inputs"
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.pages = PageStore(db or str(self.root / "store.sqlite3"))
        self._on_change = on_change
        import_legacy_jobs(self.root, self.pages)

    def close(self) -> None:
        self.pages.close()

    @staticmethod
    def valid_id(job_id: str) -> bool:
        return bool(_ID.match(job_id))

    def input_path(self, job_id: str) -> Path:
        if not self.valid_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.inputs / job_id

    def create(self, data: bytes, name: str, options: dict[str, Any]) -> JobRecord:
        """Store the input and queue the job; a write that fails (full disk) leaves nothing behind."""
        job_id = uuid.uuid4().hex
        path = self.input_path(job_id)
        tmp = path.with_suffix(".part")
        try:
            _write_file(tmp, data)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_error("the job's input", exc) from exc
        try:
            self.pages.add_documents(API_RUN, [NewDocument(job_id, str(path), name, options)])
        except SQLAlchemyError as exc:
            path.unlink(missing_ok=True)
            raise storage_error("the job", exc.orig or exc) from exc
        record = self.get(job_id)
        assert record is not None
        return record

    def get(self, job_id: str) -> JobRecord | None:
        if not self.valid_id(job_id):
            return None
        doc = self.pages.document(job_id)
        if doc is None or doc.run_id != API_RUN:
            return None
        result = self.pages.document_result(job_id) if doc.status is JobStatus.SUCCEEDED else None
        return _record(doc, result)

    def recent(self, limit: int) -> list[JobRecord]:
        """The newest jobs first, without their results (a list must stay cheap however big they are)."""
        return [_record(doc, None) for doc in self.pages.documents(API_RUN, limit=limit, newest_first=True)]

    def _set(self, job_id: str, where: Sequence[JobStatus], **fields: Any) -> bool:
        changed = self.pages.update_document(job_id, where=where, **fields)
        if changed:
            self._notify(job_id)
        return changed

    def mark_running(self, job_id: str) -> bool:
        """Claim a queued job; False if it is no longer queued (cancelled meanwhile)."""
        changed = self.pages.claim_document(job_id)
        if changed:
            self._notify(job_id)
        return changed

    def succeed(self, job_id: str, result: dict[str, Any]) -> None:
        self._set(job_id, (JobStatus.RUNNING,), status=JobStatus.SUCCEEDED, result=result)
        self._drop_input(job_id)

    def fail(self, job_id: str, error: str) -> None:
        self._set(job_id, (JobStatus.RUNNING, JobStatus.QUEUED), status=JobStatus.FAILED, error=error)
        self._drop_input(job_id)

    def cancel(self, job_id: str) -> bool:
        changed = self._set(
            job_id, (JobStatus.RUNNING, JobStatus.QUEUED), status=JobStatus.CANCELLED, error="cancelled"
        )
        if changed:
            self._drop_input(job_id)
        return changed

    def requeue(self, job_id: str, *, refund_attempt: bool) -> None:
        """Put an interrupted job back; a graceful shutdown refunds the attempt, a crash does not."""
        self._set(job_id, (JobStatus.RUNNING,), status=JobStatus.QUEUED, refund_attempt=refund_attempt)

    def recover(self, max_attempts: int) -> list[str]:
        """After a restart: jobs a dead process left running are queued again, at their first unfinished
        page; a page that was being read when the process died has used a try, and one out of tries is
        kept empty with its error while the rest of the job goes on.

        Returns the ids to enqueue, oldest first. Partial inputs a dead process was writing (``*.part``)
        are removed: they belong to no job.
        """
        for stale in self.inputs.glob("*.part"):
            stale.unlink(missing_ok=True)
        jobs = self.pages.documents(API_RUN, statuses=[JobStatus.QUEUED, JobStatus.RUNNING])
        self.pages.recover_pages([doc.id for doc in jobs if doc.status is JobStatus.RUNNING], max_attempts)
        resume: list[str] = []
        for doc in sorted(jobs, key=lambda d: d.created_at):
            if doc.status is JobStatus.RUNNING:
                self.requeue(doc.id, refund_attempt=False)
            if not self.input_path(doc.id).exists():
                self.fail(doc.id, "the job's input file is gone; submit it again")
                continue
            resume.append(doc.id)
        return resume

    def counts(self) -> dict[str, int]:
        return self.pages.count_documents(API_RUN)

    # --- pages -----------------------------------------------------------------------------------------

    def header(self, job_id: str) -> Document | None:
        return self.pages.header(job_id)

    def start_pages(self, job_id: str, header: Document, selected: Sequence[int]) -> None:
        self.pages.start_document(job_id, header, selected)
        self._notify(job_id)

    def unfinished_pages(self, job_id: str) -> list[PageRecord]:
        return self.pages.pages(job_id, [PageStatus.PENDING])

    def claim_page(self, job_id: str, number: int) -> int | None:
        return self.pages.claim_page(job_id, number)

    def finish_page(self, job_id: str, number: int, page: Page) -> None:
        if self.pages.finish_page(job_id, number, page):
            self._notify(job_id)

    def fail_page(self, job_id: str, number: int, error: str, *, dead: Page | None) -> None:
        """A try failed: the page is tried again later (``dead`` None) or kept as ``dead``."""
        retry_at = None if dead is not None else 0.0
        if self.pages.fail_page(job_id, number, error, retry_at=retry_at, page=dead) and dead is not None:
            self._notify(job_id)

    def release_page(self, job_id: str, number: int) -> None:
        self.pages.release_page(job_id, number)

    def document(self, job_id: str, dpi: float) -> Document:
        """The job's document from its header and its checkpointed pages."""
        header = self.pages.header(job_id)
        if header is None:
            raise ValueError(f"job {job_id} was never opened")
        return header.model_copy(update={"pages": list(self.pages.page_results(job_id, dpi))})

    def _notify(self, job_id: str) -> None:
        if self._on_change is not None:
            self._on_change(job_id)

    def _drop_input(self, job_id: str) -> None:
        self.input_path(job_id).unlink(missing_ok=True)


def _write_file(path: Path, data: bytes) -> None:
    """Write and flush to disk, so that a full disk fails here and not later, after the job is queued."""
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
