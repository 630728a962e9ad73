"""Local page workers: processes that each keep a pipeline (its models, its PDFium) and read pages.

Only page tasks go out (a path and a number) and finished pages come back, with the page image when
the escalation will want it. A worker opens the document for the one page it reads and closes it
after, so its memory is its models plus one page, on a 1,000-page document as on a 3-page one.

One reader thread waits on the workers' pipes and their process sentinels at once: a worker that dies
(a crash, the OOM killer) is noticed at once, its pages fail with :class:`WorkerLostError` (the
coordinator counts the try and retries them) and a new worker takes its place.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import signal
import threading
from collections import deque
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from tierocr.batch.work import PageResult, PageTask, peak_rss_bytes, read_page
from tierocr.config import Settings
from tierocr.document import Page
from tierocr.errors import TierOcrError

log = logging.getLogger(__name__)


class WorkerLostError(TierOcrError):
    """The worker reading a page died (or was stopped) before it sent the page back."""


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection
    outstanding: dict[int, tuple[PageTask, Future[PageResult]]] = field(default_factory=dict)
    peak_rss: int = 0


class LocalWorkers:
    """A pool of page worker processes; ``submit`` is safe from any thread."""

    def __init__(self, settings: Settings, workers: int, per_worker: int = 2) -> None:
        self._settings = settings
        self._per_worker = per_worker
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._backlog: deque[tuple[int, PageTask, Future[PageResult]]] = deque()
        self._closed = False
        self._wake_read, self._wake_write = self._context.Pipe(duplex=False)
        self._workers = [self._spawn() for _ in range(max(1, workers))]
        self._escalation = ThreadPoolExecutor(1, thread_name_prefix="tierocr-escalation")
        self._escalator: Any = None
        self._reader = threading.Thread(target=self._read, name="tierocr-batch-workers", daemon=True)
        self._reader.start()

    @property
    def capacity(self) -> int:
        """Pages the coordinator keeps in flight so that no worker waits for its next page."""
        return len(self._workers) * self._per_worker

    @property
    def label(self) -> str:
        return f"{len(self._workers)} local worker process(es)"

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=worker_main, args=(self._settings, child), name="tierocr-batch-worker", daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def submit(self, task: PageTask) -> Future[PageResult]:
        future: Future[PageResult] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the page workers were closed")
            self._backlog.append((next(self._ids), task, future))
            self._dispatch()
        return future

    def escalate(self, items: list[PageResult]) -> Future[list[Page]]:
        """One window of rejected pages, from any worker and document, to the VLM; one at a time."""
        return self._escalation.submit(self._escalate, items)

    def _escalate(self, items: list[PageResult]) -> list[Page]:
        if self._escalator is None:
            from tierocr.pipeline import Pipeline

            self._escalator = Pipeline(self._settings)
        return list(self._escalator.escalate(items))

    def _dispatch(self) -> None:
        """Send waiting pages to the least busy workers (lock held)."""
        while self._backlog:
            worker = min(self._workers, key=lambda w: len(w.outstanding))
            if len(worker.outstanding) >= self._per_worker:
                return
            task_id, task, future = self._backlog.popleft()
            if future.cancelled():
                continue
            worker.outstanding[task_id] = (task, future)
            try:
                worker.conn.send((task_id, task))
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
                task_id, result, rss = worker.conn.recv()
                worker.peak_rss = max(worker.peak_rss, rss)
                _, future = worker.outstanding.pop(task_id)
                _settle(future, result)
        except (EOFError, OSError):
            return  # its sentinel says the rest

    def _replace(self, worker: _Worker) -> None:
        """A worker died: what it sent before dying is kept, its other pages fail."""
        self._receive(worker)
        code = worker.process.exitcode
        for task, future in worker.outstanding.values():
            reason = f"page worker process died (exit code {code}) while reading this page"
            log.error("%s: page %d: %s", task.name, task.number, reason)
            _settle(future, WorkerLostError(reason))
        worker.conn.close()
        self._workers[self._workers.index(worker)] = self._spawn()

    def peak_rss(self) -> list[int]:
        """Peak resident memory of each worker, in bytes, as last reported with a page."""
        with self._lock:
            return [w.peak_rss for w in self._workers]

    def close(self) -> None:
        """Stop the workers at once: pages still out fail (their tries are given back by the caller)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
            for _, task, future in self._backlog:
                _settle(future, WorkerLostError(f"stopped before page {task.number} was read"))
            self._backlog.clear()
        self._wake_write.send(None)
        self._reader.join()
        for worker in workers:
            with contextlib.suppress(OSError):  # already gone
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=10)
            worker.conn.close()
            for task, future in worker.outstanding.values():
                _settle(future, WorkerLostError(f"stopped while page {task.number} was read"))
        self._escalation.shutdown(wait=True, cancel_futures=True)
        self._wake_read.close()
        self._wake_write.close()


def _settle(future: Future[PageResult], result: PageResult | BaseException) -> None:
    with contextlib.suppress(InvalidStateError):  # cancelled by a run that stopped early
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def worker_main(settings: Settings, conn: Connection) -> None:
    """A worker process: read the pages it is sent until told to stop (None) or its parent goes away."""
    # Ctrl-C reaches the whole process group; the coordinator decides how to stop, the workers wait.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tierocr.pipeline import Pipeline

    pipeline = Pipeline(settings)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, task = message
        result = read_page(pipeline, task)
        try:
            conn.send((task_id, result, peak_rss_bytes()))
        except (BrokenPipeError, OSError):
            return
