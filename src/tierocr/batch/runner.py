"""The coordinator of a batch run: hands pages to the workers, checkpoints them, assembles documents.

It keeps the workers busy across documents (the next document is opened as soon as the pages of the
open ones have all been handed out), gathers the pages the gate rejected, from any worker and any
document, into one escalation window towards the VLM (one window at a time: the endpoint sees at most
``vlm.max_concurrency`` pages, however many workers there are, and the GPU lease is taken by one
escalator), and writes every page to the store the moment it is final. A page that fails is tried
again after a back-off that doubles; out of tries it goes to the dead-letter list with its error and
its document completes without it. Nothing is kept in memory that the store does not also hold: a run
killed at any instant and started again reads its state back from the store.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from tierocr.batch.output import assemble, open_header, write_document
from tierocr.batch.records import DocRecord, failed_page
from tierocr.batch.schema import DocStatus, PageStatus
from tierocr.batch.store import PageStore
from tierocr.batch.work import PageResult, PageTask, page_failure
from tierocr.config import Settings
from tierocr.document import Page, PageError
from tierocr.errors import TierOcrError

log = logging.getLogger(__name__)


class PageBackend(Protocol):
    """Where pages are read: local worker processes or Ray actors."""

    @property
    def capacity(self) -> int: ...

    @property
    def label(self) -> str: ...

    def submit(self, task: PageTask) -> Future[PageResult]: ...

    def escalate(self, items: list[PageResult]) -> Future[list[Page]]: ...

    def peak_rss(self) -> list[int]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RunEvent:
    """What the progress display and the `--events` log are told."""

    kind: Literal["document-opened", "page", "document"]
    doc: DocRecord
    number: int | None = None
    status: str = ""
    detail: str = ""
    #: On opening: the document's pages, and how many of them a run before this one finished.
    pages: int = 0
    finished: int = 0


@dataclass
class RunStats:
    """What this process did (a resumed run counts only its own part)."""

    started: float = field(default_factory=time.monotonic)
    pages_done: int = 0
    pages_dead: int = 0
    retries: int = 0
    docs_done: int = 0
    docs_failed: int = 0
    store_writes: int = 0
    store_seconds: float = 0.0
    peak_rss: list[int] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass(eq=False)
class _Doc:
    record: DocRecord
    pending: deque[int]
    unfinished: int


@dataclass(frozen=True, slots=True)
class _Out:
    doc: _Doc
    number: int
    attempts: int


class BatchRunner:
    """Runs the unfinished documents of one run to the end (or until :meth:`request_stop`)."""

    def __init__(
        self,
        store: PageStore,
        settings: Settings,
        backend: Callable[[], PageBackend],
        *,
        run_id: str,
        output: Path,
        fmt: str = "both",
        chunks: bool = False,
        on_event: Callable[[RunEvent], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._make_backend = backend
        self._backend: PageBackend | None = None
        self.run_id = run_id
        self.output = output
        self.fmt = fmt
        self.chunks = chunks
        self._on_event = on_event
        self.max_attempts = settings.batch.retries + 1
        self.stats = RunStats()
        self._stop = threading.Event()
        self._open: list[_Doc] = []
        self._docs: deque[DocRecord] = deque()
        self._retry: list[tuple[float, int, _Doc, int]] = []
        self._retry_seq = 0
        self._inflight: dict[Future[PageResult], _Out] = {}
        self._window: list[tuple[_Out, Page, Any]] = []
        self._escalating: tuple[Future[list[Page]], list[tuple[_Out, Page, Any]]] | None = None
        self._window_size = settings.vlm.max_concurrency

    @property
    def backend(self) -> PageBackend:
        """The workers, started when the first page is handed out (a run with nothing left starts none)."""
        if self._backend is None:
            self._backend = self._make_backend()
        return self._backend

    @property
    def backend_label(self) -> str | None:
        return self._backend.label if self._backend is not None else None

    def request_stop(self) -> None:
        """Stop handing out pages; pages in flight are given back to the store unread (no try counted)."""
        self._stop.set()

    # --- the loop --------------------------------------------------------------------------------------

    def run(self) -> RunStats:
        todo = self.store.documents(self.run_id, statuses=[DocStatus.QUEUED, DocStatus.RUNNING])
        back, dead = self.store.recover_pages([d.id for d in todo], self.max_attempts)
        if back or dead:
            log.info("resumed: %d interrupted page(s) tried again, %d out of tries", back, dead)
        self._docs.extend(todo)
        try:
            while not self._stop.is_set():
                self._fill()
                self._flush_window()
                futures: list[Future[Any]] = list(self._inflight)
                if self._escalating is not None:
                    futures.append(self._escalating[0])
                timeout = self._until_retry()
                if not futures:
                    if timeout is None:
                        break  # nothing in flight, nothing to hand out, nothing waiting: the run is over
                    self._stop.wait(timeout)
                    continue
                done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
                # in the order they were handed out, so that windows and events follow page order
                for future in [f for f in futures if f in done]:
                    self._settle(future)
        finally:
            if self._backend is not None:
                self.stats.peak_rss = self._backend.peak_rss()
            self._give_back()
        return self.stats

    def _until_retry(self) -> float | None:
        if not self._retry:
            return None
        return max(0.0, self._retry[0][0] - time.time())

    def _fill(self) -> None:
        """Hand out pages until the workers are busy (and the escalation window is not overfull)."""
        while not self._stop.is_set():
            if self._backend is not None:
                limit = self._backend.capacity
                if (
                    len(self._inflight) >= limit
                    or len(self._inflight) + len(self._window) >= limit + 2 * self._window_size
                ):
                    return
            nxt = self._next_page()
            if nxt is None:
                return
            doc, number = nxt
            attempts = self._timed(self.store.claim_page, doc.record.id, number)
            if attempts is None:  # not pending any more: nothing to do for it
                continue
            task = PageTask(path=doc.record.source, name=doc.record.name, number=number)
            self._inflight[self.backend.submit(task)] = _Out(doc, number, attempts)

    def _next_page(self) -> tuple[_Doc, int] | None:
        if self._retry and self._retry[0][0] <= time.time():
            _, _, doc, number = heapq.heappop(self._retry)
            return doc, number
        while True:
            for doc in self._open:
                if doc.pending:
                    return doc, doc.pending.popleft()
            if not self._docs:
                return None
            self._open_next(self._docs.popleft())

    def _open_next(self, record: DocRecord) -> None:
        """Open a document: its header and page rows the first time, its unfinished pages on a resume."""
        store = self.store
        if store.header(record.id) is None:
            try:
                header, selected = open_header(
                    self.settings.input, Path(record.source), record.name, record.options.get("pages")
                )
            except (TierOcrError, OSError) as exc:
                store.update_document(record.id, status=DocStatus.FAILED, error=str(exc))
                self.stats.docs_failed += 1
                self._emit(RunEvent("document", record, status=DocStatus.FAILED, detail=str(exc)))
                return
            store.start_document(record.id, header, selected)
        store.update_document(record.id, status=DocStatus.RUNNING, error=None)
        rows = store.pages(record.id)
        now = time.time()
        doc = _Doc(record, deque(), 0)
        for row in rows:
            if row.status in (PageStatus.DONE, PageStatus.DEAD):
                continue
            doc.unfinished += 1
            if row.not_before > now:
                self._push_retry(row.not_before, doc, row.number)
            else:
                doc.pending.append(row.number)
        opened = RunEvent("document-opened", record, pages=len(rows), finished=len(rows) - doc.unfinished)
        self._emit(opened)
        if doc.unfinished == 0:
            self._complete(doc)
        else:
            self._open.append(doc)

    def _push_retry(self, when: float, doc: _Doc, number: int) -> None:
        self._retry_seq += 1
        heapq.heappush(self._retry, (when, self._retry_seq, doc, number))

    # --- results ---------------------------------------------------------------------------------------

    def _settle(self, future: Future[Any]) -> None:
        if self._escalating is not None and future is self._escalating[0]:
            self._escalated(future)
            return
        out = self._inflight.pop(future)
        try:
            page, image = future.result()
        except Exception as exc:  # the worker died under the page, or Ray lost it
            self._failed(out, f"{type(exc).__name__}: {exc}", None)
            return
        reason = page_failure(page)
        if reason is not None:
            self._failed(out, reason, page)
        elif image is not None:
            self._window.append((out, page, image))
        else:
            self._finished(out, page)

    def _flush_window(self) -> None:
        """Send a window to the VLM when it is full, or when nothing else is left to fill it."""
        if self._escalating is not None or not self._window:
            return
        if len(self._window) < self._window_size and (self._inflight or self._docs or self._has_pending()):
            return
        batch, self._window = self._window[: self._window_size], self._window[self._window_size :]
        future = self.backend.escalate([(page, image) for _, page, image in batch])
        self._escalating = (future, batch)

    def _has_pending(self) -> bool:
        return any(doc.pending for doc in self._open)

    def _escalated(self, future: Future[list[Page]]) -> None:
        assert self._escalating is not None
        _, batch = self._escalating
        self._escalating = None
        try:
            pages = future.result()
        except Exception as exc:  # the classical page is the floor: it stays, marked
            log.exception("escalation failed")
            message = f"{type(exc).__name__}: {exc}"
            pages = [
                page.model_copy(update={"errors": [*page.errors, PageError(stage="vlm", message=message)]})
                for _, page, _ in batch
            ]
        for (out, _, _), page in zip(batch, pages, strict=True):
            self._finished(out, page)

    def _finished(self, out: _Out, page: Page) -> None:
        if self._timed(self.store.finish_page, out.doc.record.id, out.number, page):
            self.stats.pages_done += 1
            self._emit(RunEvent("page", out.doc.record, out.number, PageStatus.DONE, page.tier.value))
        self._page_final(out.doc)

    def _failed(self, out: _Out, reason: str, page: Page | None) -> None:
        doc_id = out.doc.record.id
        if out.attempts >= self.max_attempts:
            dead = page or failed_page(out.number, float(self.settings.input.dpi), reason)
            self._timed(self.store.fail_page, doc_id, out.number, reason, retry_at=None, page=dead)
            self.stats.pages_dead += 1
            log.error(
                "%s: page %d failed %d time(s), dead-lettered: %s",
                out.doc.record.name,
                out.number,
                out.attempts,
                reason,
            )
            self._emit(RunEvent("page", out.doc.record, out.number, PageStatus.DEAD, reason))
            self._page_final(out.doc)
            return
        cfg = self.settings.batch
        delay = min(cfg.backoff_max_s, cfg.backoff_s * 2 ** (out.attempts - 1))
        when = time.time() + delay
        self._timed(self.store.fail_page, doc_id, out.number, reason, retry_at=when)
        self.stats.retries += 1
        log.warning(
            "%s: page %d failed (try %d), again in %.1fs: %s",
            out.doc.record.name,
            out.number,
            out.attempts,
            delay,
            reason,
        )
        self._push_retry(when, out.doc, out.number)

    def _page_final(self, doc: _Doc) -> None:
        doc.unfinished -= 1
        if doc.unfinished == 0:
            self._open.remove(doc)
            self._complete(doc)

    def _complete(self, doc: _Doc) -> None:
        """All pages final: the outputs from the store's pages, then the document is done."""
        record = self.store.document(doc.record.id) or doc.record
        try:
            document = assemble(self.store, record.id, self.settings)
            written = write_document(
                document, self.output, record.stem or record.id, self.fmt, self.settings, self.chunks
            )
        except TierOcrError as exc:
            self.store.update_document(record.id, status=DocStatus.FAILED, error=str(exc))
            self.stats.docs_failed += 1
            self._emit(RunEvent("document", record, status=DocStatus.FAILED, detail=str(exc)))
            return
        note = f"{record.pages_dead} page(s) in the dead-letter list" if record.pages_dead else None
        self.store.update_document(record.id, status=DocStatus.SUCCEEDED, error=note)
        self.stats.docs_done += 1
        detail = ", ".join(str(p) for p in written)
        self._emit(RunEvent("document", record, status=DocStatus.SUCCEEDED, detail=detail))

    # --- helpers ---------------------------------------------------------------------------------------

    def _give_back(self) -> None:
        """On a stop: pages already read are kept, those still out are put back unread; then the
        workers go."""
        for future in [f for f in self._inflight if f.done()]:
            self._settle(future)
        pending = list(self._inflight.values())
        pending += [out for out, _, _ in self._window]
        if self._escalating is not None:
            pending += [out for out, _, _ in self._escalating[1]]
        if self._backend is not None:
            self._backend.close()
        for out in pending:
            self.store.release_page(out.doc.record.id, out.number)
        self._inflight.clear()
        self._window.clear()
        self._escalating = None

    def _timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.stats.store_writes += 1
            self.stats.store_seconds += time.perf_counter() - started

    def _emit(self, event: RunEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
