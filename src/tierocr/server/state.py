"""Everything one running app holds: settings, pipelines, the OCR thread pool, jobs, metrics.

Built by the app factory and kept on ``app.state``; nothing here is a module global, so two apps in one
process (the tests start several) never share a pool, a queue or a counter.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import HTTPException, Request
from PIL import Image

from tierocr.config import OcrSettings, ServerSettings, Settings
from tierocr.document import Document, Page
from tierocr.engines import OcrEngine, create_engine
from tierocr.jobs import JobRecord, JobRunner, JobStore
from tierocr.jobs.datadir import DataDirLock
from tierocr.server.errors import ServiceUnavailableError
from tierocr.server.fetch import fetch_url
from tierocr.server.metrics import Metrics
from tierocr.server.vlm import default_vlm_factory
from tierocr.server.work import PipelineFactory, PipelinePool, RunOptions, document_payload, run_pages

T = TypeVar("T")


class VlmTasks(Protocol):
    """What the API needs from the vision-language tier beyond page escalation."""

    def recognize(self, image: Image.Image, task: str) -> str: ...

    def extract(self, image: Image.Image, template: dict[str, Any]) -> dict[str, Any]: ...


EngineFactory = Callable[[OcrSettings], OcrEngine]
VlmFactory = Callable[[Settings], VlmTasks | None]
Fetcher = Callable[[str, ServerSettings], bytes]


class AppState:
    def __init__(
        self,
        settings: Settings,
        *,
        pipeline_factory: PipelineFactory | None = None,
        engine_factory: EngineFactory | None = None,
        vlm_factory: VlmFactory | None = None,
        fetcher: Fetcher | None = None,
        data_lock: DataDirLock | None = None,
    ) -> None:
        self.settings = settings
        self._data_lock = data_lock
        self.metrics = Metrics()
        self.pool = PipelinePool(settings, pipeline_factory)
        self.executor = ThreadPoolExecutor(settings.server.workers, thread_name_prefix="tierocr-ocr")
        self.store = JobStore(settings.data_dir, on_change=self._job_changed, db=settings.server.jobs_db)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._job_waiters: dict[str, set[asyncio.Event]] = {}
        self.runner = JobRunner(
            self.store, self._job_pipeline, self._job_result, settings=settings, on_page=self._count_page
        )
        self.fetcher: Fetcher = fetcher or fetch_url
        self._engine_factory = engine_factory
        self._vlm_factory = vlm_factory or default_vlm_factory
        self._engine: OcrEngine | None = None
        self._vlm: VlmTasks | None = None
        self._lazy_lock = threading.Lock()

    def start(self) -> list[str]:
        """Called in the app's lifespan, on its event loop, which job changes are then reported to.

        Takes the data directory first (unless the caller already holds it), so that a second server
        on the same directory refuses to start instead of resuming the first one's running jobs.
        """
        if self._data_lock is None:
            self._data_lock = DataDirLock.acquire(self.settings.data_dir)
        self._loop = asyncio.get_running_loop()
        return self.runner.start()

    def _job_changed(self, job_id: str) -> None:
        """From any thread: wake the requests waiting on this job (on the loop, where they live)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, job_id)

    def _wake(self, job_id: str) -> None:
        for event in self._job_waiters.get(job_id, ()):
            event.set()

    async def wait_job(self, job_id: str, timeout: float) -> JobRecord | None:
        """The job's record once it is final, or when ``timeout`` passes; woken by changes, not polling."""
        deadline = asyncio.get_running_loop().time() + timeout
        event = asyncio.Event()
        waiters = self._job_waiters.setdefault(job_id, set())
        waiters.add(event)
        try:
            while True:
                event.clear()  # before the read: a change after it sets the event again
                record = self.store.get(job_id)
                left = deadline - asyncio.get_running_loop().time()
                if record is None or record.final or left <= 0:
                    return record
                try:
                    await asyncio.wait_for(event.wait(), left)
                except TimeoutError:
                    return self.store.get(job_id)
        finally:
            waiters.discard(event)
            if not waiters:
                self._job_waiters.pop(job_id, None)

    def close(self) -> None:
        self.runner.stop(timeout=10)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()
        lock, self._data_lock = self._data_lock, None
        if lock is not None:
            lock.release()

    def engine(self) -> OcrEngine:
        """The classical engine /health and /api/info report on, loaded on first use.

        By default it is a pooled pipeline's own engine rather than a separate copy: OCR models cost
        hundreds of MiB each, and readiness should describe the engine that serves requests.
        """
        with self._lazy_lock:
            if self._engine is None:
                if self._engine_factory is not None:
                    self._engine = self._engine_factory(self.settings.ocr)
                else:
                    with self.pool.lease(RunOptions()) as pipeline:
                        engine = getattr(pipeline, "engine", None)
                    self._engine = engine if engine is not None else create_engine(self.settings.ocr)
            return self._engine

    def engine_if_loaded(self) -> OcrEngine | None:
        return self._engine

    def compute(self) -> dict[str, Any] | None:
        """The device and execution providers a pooled pipeline runs its models on (blocking: on CUDA
        the models are loaded to ask them); None for a pipeline that does not say."""
        with self.pool.lease(RunOptions()) as pipeline:
            report = getattr(pipeline, "compute_info", None)
            return report() if callable(report) else None

    def vlm(self, task: str) -> VlmTasks:
        """The VLM tier for a task that cannot be done without it; 503 that says so when it is not set up."""
        if not self.settings.vlm.url:
            raise ServiceUnavailableError(
                f"task {task!r} needs the vision-language tier, which is not configured on this server "
                "(set TIEROCR_VLM_URL to an OpenAI-compatible endpoint)"
            )
        with self._lazy_lock:
            if self._vlm is None:
                self._vlm = self._vlm_factory(self.settings)
            if self._vlm is None:
                raise ServiceUnavailableError(f"task {task!r}: no VLM client is available in this build")
            return self._vlm

    async def run_blocking(
        self,
        fn: Callable[[], T],
        cancel: threading.Event,
        timeout: float | None,
        request: Request | None = None,
    ) -> T:
        """Run CPU-bound work on the OCR pool; on timeout, a cancelled task or a client that hung up
        (``request``, whose body must have been read), tell it to stop at its next page."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn)
        gone = asyncio.ensure_future(_client_gone(request)) if request is not None else None
        try:
            done, _ = await asyncio.wait(
                {future} if gone is None else {future, gone},
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except asyncio.CancelledError:
            cancel.set()
            raise
        finally:
            if gone is not None:
                gone.cancel()
        if future in done:
            return future.result()
        cancel.set()
        if gone is not None and gone in done:
            self.metrics.requests_abandoned.inc()
            raise HTTPException(499, "the client went away; the work stops at its next page")
        raise HTTPException(504, f"the request took longer than {timeout:g}s; use /api/jobs")

    def parse(
        self,
        source: Path | bytes,
        *,
        name: str | None,
        pages: str | None,
        options: RunOptions,
        cancel: threading.Event,
        max_pages: int,
        on_header: Callable[[Document, int], None] | None = None,
        on_page: Callable[[Page, int, int], None] | None = None,
    ) -> Document:
        """Blocking: lease a pipeline and parse, counting pages and in-flight documents."""

        def count(page: Page, done: int, total: int) -> None:
            self.metrics.pages.labels(str(page.tier)).inc()
            if on_page is not None:
                on_page(page, done, total)

        self.metrics.documents_in_flight.inc()
        try:
            with self.pool.lease(options) as pipeline:
                return run_pages(
                    pipeline,
                    source,
                    name=name,
                    pages=pages,
                    max_pages=max_pages,
                    cancel=cancel,
                    on_header=on_header,
                    on_page=count,
                )
        finally:
            self.metrics.documents_in_flight.dec()

    @contextmanager
    def _job_pipeline(self, record: JobRecord) -> Iterator[Any]:
        """A pooled pipeline for a job's options, counted as a document in flight while it runs."""
        opts = record.options
        options = RunOptions(escalate=opts.get("escalate"), enable_layout=opts.get("enable_layout"))
        self.metrics.documents_in_flight.inc()
        try:
            with self.pool.lease(options) as pipeline:
                yield pipeline
        finally:
            self.metrics.documents_in_flight.dec()

    def _job_result(self, record: JobRecord, doc: Document) -> dict[str, Any]:
        return document_payload(doc, self.settings, record.options.get("format", "both"))

    def _count_page(self, page: Page) -> None:
        self.metrics.pages.labels(str(page.tier)).inc()


def get_state(request: Request) -> AppState:
    return request.app.state.tierocr


async def _client_gone(request: Request) -> None:
    """Return once the client has disconnected: after the body, the next ASGI message is the disconnect,
    so this waits on the connection rather than polling it."""
    while (await request.receive())["type"] != "http.disconnect":
        continue
