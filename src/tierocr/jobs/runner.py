"""The job worker: a few threads that take queued jobs and run them to a final state.

Restart policy (documented in docs/api.md): on start, jobs a dead process left ``running`` are resumed from
their first page, because their input is still on disk, until they have been started
``server.job_max_attempts`` times; after that they are marked failed so that a document that crashes the
server cannot crash it forever. A graceful shutdown stops running jobs between pages and puts them back
in the queue without counting the attempt.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tierocr.errors import InputError, TierOcrError
from tierocr.jobs.store import JobRecord, JobStore
from tierocr.server.work import CancelledError

log = logging.getLogger(__name__)

#: (job, input path, cancel event, progress callback(pages_done, page_count)) -> result dict
ProcessFn = Callable[[JobRecord, Path, threading.Event, Callable[[int, int], None]], dict[str, Any]]


class JobRunner:
    def __init__(self, store: JobStore, process: ProcessFn, *, workers: int, max_attempts: int) -> None:
        self.store = store
        self._process = process
        self._workers = workers
        self._max_attempts = max_attempts
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
            result = self._process(
                record,
                self.store.input_path(job_id),
                cancel,
                lambda done, total: self.store.progress(job_id, done, total),
            )
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
