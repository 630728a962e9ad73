"""Worker processes for pages whose work is mostly Python: each has its own pipeline, models and PDFium.

Threads share one interpreter lock. The models release it, so a scanned page's OCR runs beside another
page's; but a born-digital page in layout mode is mostly Python (pdfminer's parse, region geometry,
reading order) and a second thread adds little there. Worker processes each open the document
themselves (by path; a document given as bytes is written to a temporary file first) and read the pages
they are sent: only page numbers go out, finished pages come back. Each worker loads its own models, so
memory grows by one set of models per worker.

The parent waits on the workers' pipes and on their process sentinels at once, so a worker that dies
(a crash, the OOM killer) is noticed at once: its pages come back as failed pages, never lost, and a new
worker takes its place.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierocr.config import Settings
from tierocr.layout.pdf_pages import PdfPages
from tierocr.parallel.pool import PoolWorker, ProcessPool, serve_tasks
from tierocr.parallel.work import PageResult, lost_page, read_page

if TYPE_CHECKING:
    from tierocr.inputs import LoadedDocument

#: Pages sent to one worker before it has returned the first: one read, one waiting, so it never idles.
_PER_WORKER = 2
#: Documents a worker keeps open between pages (the current one and the next).
_OPEN_DOCUMENTS = 2


@dataclass(frozen=True, slots=True)
class PageJob:
    """One page for a worker: where to open its document, its label, and its number."""

    path: str
    name: str
    number: int
    #: The PDF pdfplumber may reopen for tables (None for a document given as bytes, as with threads).
    table_path: str | None = None


class ProcessPages(ProcessPool[PageJob, PageResult]):
    """A pool of page-reading worker processes; ``submit`` is safe from any thread."""

    def __init__(self, settings: Settings, workers: int) -> None:
        #: What the workers report of their device and models (:meth:`Pipeline.compute_info`).
        self.compute: dict[str, Any] | None = None
        super().__init__(settings, workers, worker_main, per_worker=_PER_WORKER, name="tierocr-page-worker")

    def _lost(self, task: PageJob, reason: str) -> PageResult:
        # A page is never lost from the document: it comes back empty, with why.
        return lost_page(task.number, float(self._settings.input.dpi), reason)

    def _report(self, worker: PoolWorker[PageJob, PageResult], report: Any) -> None:
        self.compute = report

    def close(self, *, wait_for_pages: bool = True) -> None:  # type: ignore[override]
        """Stop the workers: after the page each is reading, or at once (``wait_for_pages=False``)."""
        super().close(join_timeout=60.0 if wait_for_pages else 0.0)


class _Documents:
    """The documents a worker has open, the most recent few, with their pdfplumber pages."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._open: OrderedDict[str, tuple[LoadedDocument, PdfPages | None]] = OrderedDict()

    def get(self, job: PageJob) -> tuple[LoadedDocument, PdfPages | None]:
        from tierocr.inputs import open_document

        entry = self._open.get(job.path)
        if entry is None:
            loaded = open_document(Path(job.path), self._settings.input, name=job.name)
            pdf_pages = (
                PdfPages(Path(job.table_path), self._settings.input.password) if job.table_path else None
            )
            entry = self._open[job.path] = (loaded, pdf_pages)
            while len(self._open) > _OPEN_DOCUMENTS:
                _, (old, old_pages) = self._open.popitem(last=False)
                old.close()
                if old_pages is not None:
                    old_pages.close()
        self._open.move_to_end(job.path)
        return entry

    def close(self) -> None:
        for loaded, pdf_pages in self._open.values():
            loaded.close()
            if pdf_pages is not None:
                pdf_pages.close()
        self._open.clear()


def worker_main(settings: Settings, conn: Connection) -> None:
    """A worker process: read the pages it is sent, keeping the last few documents open between them."""
    from tierocr.pipeline import Pipeline

    pipeline = Pipeline(settings)
    documents = _Documents(settings)
    try:
        serve_tasks(conn, lambda job: _read_job(pipeline, documents, job), pipeline.compute_info)
    finally:
        documents.close()


def _read_job(pipeline: Any, documents: _Documents, job: PageJob) -> PageResult:
    from tierocr.errors import TierOcrError

    try:
        loaded, pdf_pages = documents.get(job)
        page_input = next(loaded.page_inputs([job.number]))
    except (TierOcrError, OSError, StopIteration) as exc:
        return lost_page(job.number, float(pipeline.settings.input.dpi), f"cannot open the page: {exc}")
    try:
        table_path = Path(job.table_path) if job.table_path else None
        page, image = read_page(pipeline, page_input, table_path, pdf_pages)
    finally:
        page_input.release()
    return page, image if pipeline.escalating else None
