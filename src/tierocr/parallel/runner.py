"""A run over documents: the pages of one document, and the documents of one call, share the workers.

The run reads its sources in order and hands their pages to the workers as they are opened, so the
next document's first pages are read while the last pages of the one before are still being worked on;
no core waits for a document boundary. What comes out is in order all the same: each document's start,
its pages in page order, its end (or the one-line reason it could not be opened), then the next
document. At most ``pages_in_flight`` pages are opened and not yet delivered, whatever the documents'
length, and a page is released as soon as it has been delivered.

A page's classical work is the sequential pipeline's own (:func:`~tierocr.parallel.work.read_page`),
so the output is the same with one worker or many. Escalation stays in the caller's thread, by windows
of pages of one document, exactly as in the sequential pipeline.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tierocr import __version__
from tierocr.document import Document, Page
from tierocr.errors import TierOcrError
from tierocr.inputs import LoadedDocument, PageInput, open_document
from tierocr.inputs.sniff import PDF
from tierocr.layout.pdf_pages import PdfPages
from tierocr.parallel.ordered import in_order
from tierocr.parallel.processes import PageJob
from tierocr.parallel.threads import PageThreads
from tierocr.parallel.work import PageResult, read_page

if TYPE_CHECKING:
    from tierocr.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class Source:
    """One document of a run: a path or bytes, its label, its page range; ``opened`` when the caller
    has opened it already (then ``header`` is the Document it holds for it)."""

    data: Path | bytes
    name: str | None = None
    pages: str | None = None
    opened: LoadedDocument | None = None
    header: Document | None = None


@dataclass(frozen=True, slots=True)
class DocumentStarted:
    index: int
    source: Source
    #: The header: source, type, page count; pages are delivered one by one, not added here.
    document: Document
    total: int


@dataclass(frozen=True, slots=True)
class PageDone:
    index: int
    page: Page


@dataclass(frozen=True, slots=True)
class DocumentDone:
    index: int
    document: Document


@dataclass(frozen=True, slots=True)
class DocumentFailed:
    index: int
    source: Source
    error: TierOcrError


RunEvent = DocumentStarted | PageDone | DocumentDone | DocumentFailed


def document_header(loaded: LoadedDocument) -> Document:
    """What is known of a document before its first page is read."""
    return Document(
        source=loaded.name,
        mime_type=loaded.mime_type,
        page_count=loaded.page_count,
        metadata={"tierocr_version": __version__, "pages_selected": loaded.selected},
    )


@dataclass(eq=False)
class _Open:
    """A document of the run between its opening and its end."""

    index: int
    loaded: LoadedDocument
    document: Document
    #: The PDF's path, where pdfplumber may read its tables (None for bytes, images).
    table_path: Path | None
    pdf_pages: PdfPages | None = None
    #: Where worker processes open it; a temporary copy for bytes (``temporary``).
    work_path: Path | None = None
    temporary: bool = False
    window: list[PageResult] = field(default_factory=list)
    owned: bool = True
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.pdf_pages is not None:
            self.pdf_pages.close()
        if self.owned:
            self.loaded.close()
        if self.temporary and self.work_path is not None:
            self.work_path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class _Task:
    doc: _Open
    number: int
    page_input: PageInput | None


@dataclass(frozen=True, slots=True)
class _Mark:
    doc: _Open | None
    event: DocumentStarted | DocumentFailed | None = None


Submit = Callable[[_Task], Future[PageResult]]


class PageRunner:
    """Runs documents through one pipeline's classical tiers on its page workers."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def run(self, sources: Iterable[Source]) -> Generator[RunEvent, None, None]:
        pipeline = self._pipeline
        opened: list[_Open] = []
        with self._backend() as submit:
            results = in_order(
                self._items(sources, opened),
                lambda item: self._submit(submit, item),
                pipeline.pages_in_flight,
                _drop,
            )
            try:
                for item, result in results:
                    if isinstance(item, _Task):
                        if item.page_input is not None:
                            item.page_input.release()
                        assert result is not None
                        item.doc.window.append(result)
                        if len(item.doc.window) >= pipeline.window:
                            yield from self._flush(item.doc)
                    elif item.event is not None:
                        yield item.event
                    elif item.doc is not None:  # the document's end: its last pages are all in
                        yield from self._flush(item.doc)
                        item.doc.document.metadata["compute"] = pipeline.compute_info()
                        item.doc.close()
                        yield DocumentDone(item.doc.index, item.doc.document)
            finally:
                results.close()
                for doc in opened:
                    doc.close()

    def _flush(self, doc: _Open) -> Iterator[PageDone]:
        window, doc.window = doc.window, []
        for page in self._pipeline.escalate(window):
            yield PageDone(doc.index, page)

    @contextlib.contextmanager
    def _backend(self) -> Iterator[Submit]:
        pipeline = self._pipeline
        if pipeline.workers <= 1:
            yield _inline(pipeline)
            return
        if pipeline.settings.pipeline.backend == "process":
            pool = pipeline.processes()
            yield lambda task: pool.submit(_job(task))
            return
        # Threads for this run only: starting them is cheap, and none outlive the run.
        with PageThreads(pipeline.workers) as threads:
            yield lambda task: threads.submit(
                read_page, pipeline, task.page_input, task.doc.table_path, task.doc.pdf_pages
            )

    def _submit(self, submit: Submit, item: _Task | _Mark) -> Future[PageResult] | None:
        if isinstance(item, _Mark):
            return None
        try:
            return submit(item)
        except BaseException:
            _drop(item)
            raise

    def _items(self, sources: Iterable[Source], opened: list[_Open]) -> Iterator[_Task | _Mark]:
        """Each document's start, its pages, its end; documents are opened only when reached."""
        in_processes = self._pipeline.workers > 1 and self._pipeline.settings.pipeline.backend == "process"
        for index, source in enumerate(sources):
            try:
                doc = self._open(index, source, in_processes)
            except TierOcrError as exc:
                yield _Mark(None, DocumentFailed(index, source, exc))
                continue
            opened.append(doc)
            yield _Mark(doc, DocumentStarted(index, source, doc.document, len(doc.loaded.selected)))
            if in_processes:
                for number in doc.loaded.selected:
                    yield _Task(doc, number, None)
            else:
                for page_input in doc.loaded.page_inputs():
                    yield _Task(doc, page_input.number, page_input)
            yield _Mark(doc)

    def _open(self, index: int, source: Source, in_processes: bool) -> _Open:
        settings = self._pipeline.settings
        if source.opened is not None:
            loaded = source.opened
        else:
            loaded = open_document(source.data, settings.input, name=source.name, pages=source.pages)
        header = source.header if source.header is not None else document_header(loaded)
        path = None if isinstance(source.data, bytes) else Path(source.data)
        table_path = path if loaded.mime_type == PDF else None
        doc = _Open(index, loaded, header, table_path, owned=source.opened is None)
        try:
            if in_processes:
                doc.work_path, doc.temporary = _work_path(source.data)
            elif table_path is not None and settings.layout.enabled:
                doc.pdf_pages = PdfPages(table_path, settings.input.password)
        except BaseException:
            doc.close()
            raise
        return doc


def _inline(pipeline: Pipeline) -> Submit:
    """One worker: the page is read when it is submitted, in the caller's thread."""

    def submit(task: _Task) -> Future[PageResult]:
        assert task.page_input is not None
        future: Future[PageResult] = Future()
        try:
            future.set_result(read_page(pipeline, task.page_input, task.doc.table_path, task.doc.pdf_pages))
        except Exception as exc:
            future.set_exception(exc)
        return future

    return submit


def _job(task: _Task) -> PageJob:
    doc = task.doc
    assert doc.work_path is not None
    return PageJob(
        path=str(doc.work_path),
        name=doc.document.source,
        number=task.number,
        table_path=str(doc.table_path) if doc.table_path is not None else None,
    )


def _work_path(data: Path | bytes) -> tuple[Path, bool]:
    """Where worker processes open the document: its own path, or a private temporary copy of bytes."""
    if not isinstance(data, bytes):
        return Path(data).resolve(), False
    fd, name = tempfile.mkstemp(prefix="tierocr-", suffix=".input")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), True


def _drop(item: _Task | _Mark) -> None:
    if isinstance(item, _Task) and item.page_input is not None:
        item.page_input.release()
