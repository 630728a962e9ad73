"""Local page workers: processes that each keep a pipeline (its models, its PDFium) and read pages.

Only page tasks go out (a path and a number) and finished pages come back, with the page image when
the escalation will want it. A worker opens the document for the one page it reads and closes it
after, so its memory is its models plus one page, on a 1,000-page document as on a 3-page one.

The pool itself is :class:`tierocr.parallel.pool.ProcessPool`, shared with `tierocr parse`'s page
workers: a worker that dies (a crash, the OOM killer) is noticed at once and replaced. Here its pages
fail with :class:`WorkerLostError`, so that the coordinator counts the try and hands them out again.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from tierocr.batch.work import PageResult, PageTask, peak_rss_bytes, read_page
from tierocr.config import Settings
from tierocr.document import Page
from tierocr.errors import TierOcrError
from tierocr.parallel.pool import PoolWorker, ProcessPool, serve_tasks


class WorkerLostError(TierOcrError):
    """The worker reading a page died (or was stopped) before it sent the page back."""


class LocalWorkers(ProcessPool[PageTask, PageResult]):
    """A pool of page worker processes; ``submit`` is safe from any thread."""

    def __init__(self, settings: Settings, workers: int, per_worker: int = 2) -> None:
        self._escalation = ThreadPoolExecutor(1, thread_name_prefix="tierocr-escalation")
        self._escalator: Any = None
        super().__init__(settings, workers, worker_main, per_worker=per_worker, name="tierocr-batch-worker")

    @property
    def capacity(self) -> int:
        """Pages the coordinator keeps in flight so that no worker waits for its next page."""
        return len(self._workers) * self._per_worker

    @property
    def label(self) -> str:
        return f"{len(self._workers)} local worker process(es)"

    def _lost(self, task: PageTask, reason: str) -> WorkerLostError:
        # The coordinator counts the try and hands the page out again.
        return WorkerLostError(reason)

    def _report(self, worker: PoolWorker[PageTask, PageResult], report: Any) -> None:
        worker.peak_rss = max(worker.peak_rss, report)

    def escalate(self, items: list[PageResult]) -> Future[list[Page]]:
        """One window of rejected pages, from any worker and document, to the VLM; one at a time."""
        return self._escalation.submit(self._escalate, items)

    def _escalate(self, items: list[PageResult]) -> list[Page]:
        if self._escalator is None:
            from tierocr.pipeline import Pipeline

            self._escalator = Pipeline(self._settings)
        return list(self._escalator.escalate(items))

    def peak_rss(self) -> list[int]:
        """Peak resident memory of each worker, in bytes, as last reported with a page."""
        with self._lock:
            return [w.peak_rss for w in self._workers]

    def close(self) -> None:  # type: ignore[override]
        """Stop the workers at once: pages still out fail (their tries are given back by the caller)."""
        super().close(join_timeout=5.0, cancel_waiting=False)
        self._escalation.shutdown(wait=True, cancel_futures=True)


def worker_main(settings: Settings, conn: Connection) -> None:
    """A worker process: read the pages it is sent, each opening its document for that page alone."""
    from tierocr.pipeline import Pipeline

    pipeline = Pipeline(settings)
    serve_tasks(conn, lambda task: read_page(pipeline, task), peak_rss_bytes)
