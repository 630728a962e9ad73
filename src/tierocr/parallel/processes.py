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

import contextlib
import itertools
import logging
import multiprocessing
import signal
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierocr.config import Settings
from tierocr.layout.pdf_pages import PdfPages
from tierocr.parallel.work import PageResult, lost_page, read_page

if TYPE_CHECKING:
    from tierocr.inputs import LoadedDocument

log = logging.getLogger(__name__)

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


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection
    outstanding: dict[int, tuple[PageJob, Future[PageResult]]] = field(default_factory=dict)


class ProcessPages:
    """A pool of page-reading worker processes; ``submit`` is safe from any thread."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._backlog: deque[tuple[int, PageJob, Future[PageResult]]] = deque()
        self._closed = False
        self._wake_read, self._wake_write = self._context.Pipe(duplex=False)
        self._workers = [self._spawn() for _ in range(max(1, workers))]
        #: Workers started so far, replacements included.
        self.started = len(self._workers)
        #: What the workers report of their device and models (:meth:`Pipeline.compute_info`).
        self.compute: dict[str, Any] | None = None
        self._reader = threading.Thread(target=self._read, name="tierocr-page-processes", daemon=True)
        self._reader.start()

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=worker_main, args=(self._settings, child), name="tierocr-page-worker", daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def submit(self, job: PageJob) -> Future[PageResult]:
        future: Future[PageResult] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the page worker processes were closed")
            self._backlog.append((next(self._ids), job, future))
            self._dispatch()
        return future

    def _dispatch(self) -> None:
        """Send waiting pages to the least busy workers (lock held)."""
        while self._backlog:
            worker = min(self._workers, key=lambda w: len(w.outstanding))
            if len(worker.outstanding) >= _PER_WORKER:
                return
            task_id, job, future = self._backlog.popleft()
            if future.cancelled():
                continue
            worker.outstanding[task_id] = (job, future)
            try:
                worker.conn.send((task_id, job))
            except OSError:  # it died; the reader fails its pages and replaces it
                return

    def _read(self) -> None:
        """The one thread that receives pages and notices dead workers."""
        while True:
            with self._lock:
                if self._closed:
                    return
                by_conn = {w.conn: w for w in self._workers}
                by_sentinel = {w.process.sentinel: w for w in self._workers}
            ready = wait([self._wake_read, *by_conn, *by_sentinel])
            with self._lock:
                if self._closed:
                    return
                for conn in (obj for obj in ready if obj in by_conn):
                    self._receive(by_conn[conn])
                for sentinel in (obj for obj in ready if obj in by_sentinel):
                    self._replace(by_sentinel[sentinel])
                self._dispatch()

    def _receive(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                task_id, result, compute = worker.conn.recv()
                self.compute = compute
                _, future = worker.outstanding.pop(task_id)
                _settle(future, result)
        except (EOFError, OSError):
            return  # its sentinel says the rest

    def _replace(self, worker: _Worker) -> None:
        """A worker died: what it sent before dying is kept, its other pages come back failed."""
        self._receive(worker)
        code = worker.process.exitcode
        for job, future in worker.outstanding.values():
            reason = f"page worker process died (exit code {code}) while reading this page"
            log.error("%s: page %d: %s", job.name, job.number, reason)
            _settle(future, lost_page(job.number, float(self._settings.input.dpi), reason))
        worker.conn.close()
        self._workers[self._workers.index(worker)] = self._spawn()
        self.started += 1

    def close(self, *, wait_for_pages: bool = True) -> None:
        """Stop the workers: after the page each is reading, or at once (``wait_for_pages=False``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
            for _, _, future in self._backlog:
                future.cancel()
            self._backlog.clear()
        self._wake_write.send(None)
        self._reader.join()
        for worker in workers:
            with contextlib.suppress(OSError):  # already gone
                worker.conn.send(None)
        for worker in workers:
            if wait_for_pages:
                worker.process.join(timeout=60)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=10)
            worker.conn.close()
            for job, future in worker.outstanding.values():
                _settle(future, lost_page(job.number, float(self._settings.input.dpi), "stopped"))
        self._wake_read.close()
        self._wake_write.close()


def _settle(future: Future[PageResult], result: PageResult) -> None:
    with contextlib.suppress(InvalidStateError):  # cancelled by a run that stopped early
        future.set_result(result)


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
    """A worker process: read the pages it is sent until told to stop (None) or its parent goes away."""
    # Ctrl-C reaches the whole process group; the parent decides how to stop, the workers wait for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tierocr.pipeline import Pipeline

    pipeline = Pipeline(settings)
    documents = _Documents(settings)
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            task_id, job = message
            result = _read_job(pipeline, documents, job)
            conn.send((task_id, result, pipeline.compute_info()))
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
