"""The job worker: a few threads that take queued jobs and run them to a final state, page by page.

Restart policy (documented in docs/api.md): every page of a job is checkpointed as it finishes, so on
start, jobs a dead process left ``running`` are resumed at their first unfinished page. The page that
was being read when the process died has used one of its ``server.job_max_attempts`` tries; a page out
of tries (one that crashes the server every time) is kept empty with its error and the job completes
without it, so a poisonous page cannot crash the server forever and costs nothing but itself. A
graceful shutdown stops running jobs between pages and puts them back in the queue without counting
the attempt.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from tierocr.config import Settings
from tierocr.document import Document, Page
from tierocr.errors import CancelledError, InputError, TierOcrError
from tierocr.jobs.pages import run_job_pages
from tierocr.jobs.store import JobRecord, JobStore

log = logging.getLogger(__name__)

#: A pipeline for the job's options, held for as long as the job runs.
PipelineLease = Callable[[JobRecord], AbstractContextManager[Any]]
#: The job's answer (what GET /api/jobs/{id} returns as ``result``) from its finished document.
Finish = Callable[[JobRecord, Document], dict[str, Any]]


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        pipelines: PipelineLease,
        finish: Finish,
        *,
        settings: Settings,
        on_page: Callable[[Page], None] | None = None,
    ) -> None:
        self.store = store
        self._pipelines = pipelines
        self._finish = finish
        self._settings = settings
        self._on_page = on_page
        self._workers = settings.server.job_workers
        self._max_attempts = settings.server.job_max_attempts
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> list[str]:
        """Recover what a previous process left behind, then start the workers; returns the resumed ids."""
        resumed = self.store.recover(self._max_attempts)
        for job_id in resumed:
            self._queue.put(job_id)
        for n in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"tierocr-job-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return resumed

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job at once, a running one at its next page boundary."""
        with self._lock:
            event = self._running.get(job_id)
        cancelled = self.store.cancel(job_id)
        if event is not None:
            event.set()
        return cancelled

    def request_stop(self) -> None:
        """Ask the workers to stop: running jobs end at their next page boundary and go back to the queue."""
        self._stopping.set()
        with self._lock:
            for event in self._running.values():
                event.set()
        for _ in self._threads:
            self._queue.put(None)

    def stop(self, timeout: float | None = None) -> None:
        self.request_stop()
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                return
            try:
                self._run(job_id)
            except Exception:  # the store itself failed (full disk): keep the worker, the job is resumed
                log.exception("job %s could not be recorded; it is resumed on the next start", job_id)

    def _run(self, job_id: str) -> None:
        if not self.store.mark_running(job_id):
            return  # cancelled while queued, or already taken
        record = self.store.get(job_id)
        if record is None:
            return
        cancel = threading.Event()
        with self._lock:
            self._running[job_id] = cancel
        try:
            with self._pipelines(record) as pipeline:
                doc = run_job_pages(
                    self.store,
                    record,
                    pipeline,
                    self._settings,
                    cancel,
                    max_pages=self._settings.server.max_job_pages,
                    max_attempts=self._max_attempts,
                    backoff_s=self._settings.batch.backoff_s,
                    on_page=self._on_page,
                )
            result = self._finish(record, doc)
        except CancelledError:
            if self._stopping.is_set():
                self.store.requeue(job_id, refund_attempt=True)
            # otherwise cancel() already wrote the final state
        except InputError as exc:
            self.store.fail(job_id, exc.reason)
        except TierOcrError as exc:
            self.store.fail(job_id, str(exc))
        except Exception as exc:  # a job must end in a state, whatever broke inside it
            log.exception("job %s failed", job_id)
            self.store.fail(job_id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            self.store.succeed(job_id, result)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
