"""A pool of worker processes fed over pipes, for the page workers of `tierocr parse` and `tierocr batch`.

Both read pages in processes of their own (PDFium is not thread-safe, and a born-digital page is mostly
Python), and both need the same machinery: tasks handed to the least busy worker, a bounded number out
per worker so none idles, and one reader thread that waits on the workers' pipes and process sentinels
at once, so that a worker that dies (a crash, the OOM killer) is noticed at once, its pages come back
settled (never lost) and a new worker takes its place. What differs is what a lost page becomes (a page
kept empty with its error, or an error the batch coordinator retries) and what a worker reports beside
its pages; subclasses say that through :meth:`ProcessPool._lost` and :meth:`ProcessPool._report`.

A worker is ``target(settings, conn)``: it receives ``(task_id, task)`` tuples, or None to stop, and
answers each with ``(task_id, result, report)``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, Protocol, TypeVar

from tierocr.config import Settings

log = logging.getLogger(__name__)


class PoolTask(Protocol):
    """What the pool needs of a task: which document and page it is, for its log lines."""

    @property
    def name(self) -> str: ...

    @property
    def number(self) -> int: ...


TaskT = TypeVar("TaskT", bound=PoolTask)
ResultT = TypeVar("ResultT")


@dataclass(eq=False)
class PoolWorker(Generic[TaskT, ResultT]):
    process: Any
    conn: Connection
    outstanding: dict[int, tuple[TaskT, Future[ResultT]]] = field(default_factory=dict)
    #: The largest resident memory the worker reported with a page, in bytes (0: it reports none).
    peak_rss: int = 0


def serve_tasks(conn: Connection, read: Callable[[Any], Any], report: Callable[[], Any]) -> None:
    """The worker side of the pool: read each task sent until told to stop (None) or the parent goes
    away, and answer ``(task_id, read(task), report())``. Ctrl-C reaches the whole process group; the
    parent decides how to stop, so the worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, task = message
        result = read(task)
        try:
            conn.send((task_id, result, report()))
        except OSError:  # the parent went away (a broken pipe is an OSError)
            return


def settle(future: Future[Any], result: Any) -> None:
    """Give a future its result, or its error when ``result`` is an exception; a cancelled one is left."""
    with contextlib.suppress(InvalidStateError):  # cancelled by a run that stopped early
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class ProcessPool(Generic[TaskT, ResultT]):
    """Worker processes reading tasks; ``submit`` is safe from any thread."""

    def __init__(
        self,
        settings: Settings,
        workers: int,
        target: Callable[[Settings, Connection], None],
        *,
        per_worker: int = 2,
        name: str = "tierocr-page-worker",
    ) -> None:
        self._settings = settings
        self._target = target
        self._per_worker = per_worker
        self._name = name
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._backlog: deque[tuple[int, TaskT, Future[ResultT]]] = deque()
        self._closed = False
        self._wake_read, self._wake_write = self._context.Pipe(duplex=False)
        self._workers = [self._spawn() for _ in range(max(1, workers))]
        #: Workers started so far, replacements included.
        self.started = len(self._workers)
        self._reader = threading.Thread(target=self._read, name=f"{name}s", daemon=True)
        self._reader.start()

    # --- what subclasses decide --------------------------------------------------------------------

    def _lost(self, task: TaskT, reason: str) -> ResultT | BaseException:
        """What a page whose worker died or was stopped becomes."""
        raise NotImplementedError

    def _report(self, worker: PoolWorker[TaskT, ResultT], report: Any) -> None:
        """What a worker sent beside a finished page (lock held)."""

    # --- the pool ------------------------------------------------------------------------------------

    def _spawn(self) -> PoolWorker[TaskT, ResultT]:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=self._target, args=(self._settings, child), name=self._name, daemon=True
        )
        process.start()
        child.close()
        return PoolWorker(process, parent)

    def submit(self, task: TaskT) -> Future[ResultT]:
        future: Future[ResultT] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the page worker processes were closed")
            self._backlog.append((next(self._ids), task, future))
            self._dispatch()
        return future

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

    def _receive(self, worker: PoolWorker[TaskT, ResultT]) -> None:
        try:
            while worker.conn.poll():
                task_id, result, report = worker.conn.recv()
                self._report(worker, report)
                _, future = worker.outstanding.pop(task_id)
                settle(future, result)
        except (EOFError, OSError):
            return  # its sentinel says the rest

    def _replace(self, worker: PoolWorker[TaskT, ResultT]) -> None:
        """A worker died: what it sent before dying is kept, its other pages are settled as lost."""
        self._receive(worker)
        code = worker.process.exitcode
        for task, future in worker.outstanding.values():
            reason = f"page worker process died (exit code {code}) while reading this page"
            log.error("%s: page %d: %s", task.name, task.number, reason)
            settle(future, self._lost(task, reason))
        worker.conn.close()
        self._workers[self._workers.index(worker)] = self._spawn()
        self.started += 1

    def close(self, *, join_timeout: float = 60.0, cancel_waiting: bool = True) -> None:
        """Stop the workers once each has sent the page it is reading (``join_timeout`` at most; 0 stops
        them at once). Pages not yet sent are cancelled, or settled as lost (``cancel_waiting=False``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
            for _, task, future in self._backlog:
                if cancel_waiting:
                    future.cancel()
                else:
                    settle(future, self._lost(task, f"stopped before page {task.number} was read"))
            self._backlog.clear()
        self._wake_write.send(None)
        self._reader.join()
        for worker in workers:
            with contextlib.suppress(OSError):  # already gone
                worker.conn.send(None)
        for worker in workers:
            if join_timeout > 0:
                worker.process.join(timeout=join_timeout)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=10)
            worker.conn.close()
            for task, future in worker.outstanding.values():
                settle(future, self._lost(task, f"stopped while page {task.number} was read"))
        self._wake_read.close()
        self._wake_write.close()
