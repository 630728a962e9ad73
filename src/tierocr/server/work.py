"""Running documents through the pipeline on behalf of a server: pooled pipelines, limits, cancellation.

Free of FastAPI on purpose: the HTTP routes, the job worker and the serverless handler all go through
here, so a page limit or a cancellation check behaves the same whichever face received the document.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierocr.config import Settings
from tierocr.config.vlm import Escalate
from tierocr.document import Document, Page

# LimitExceededError and CancelledError live in tierocr.errors, where the job runner (which must not
# import the server) raises them too; they are imported here for the server's modules.
from tierocr.errors import CancelledError, LimitExceededError, TierOcrError

PipelineFactory = Callable[[Settings], Any]


class PageRangeError(TierOcrError):
    """The page range does not fit the document."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Per-request knobs that change the pipeline's settings; also the key of the pipeline pool."""

    escalate: Escalate | None = None
    enable_layout: bool | None = None


def request_settings(settings: Settings, options: RunOptions) -> Settings:
    """The server's settings with one request's options applied; the server's own object is never mutated."""
    update: dict[str, Any] = {}
    if options.escalate is not None:
        update["vlm"] = settings.vlm.model_copy(update={"escalate": options.escalate})
    if options.enable_layout is not None:
        update["layout"] = settings.layout.model_copy(update={"enabled": options.enable_layout})
    return settings.model_copy(update=update) if update else settings


def default_pipeline_factory(settings: Settings) -> Any:
    from tierocr.pipeline import Pipeline

    return Pipeline(settings)


class PipelinePool:
    """Pipelines load models, so they are built once and reused; each serves one document at a time.

    The pipeline is not promised to be thread-safe, hence one instance per concurrent user rather than one
    shared instance. The number of instances per option set is bounded by the callers' own concurrency
    (the request executor and the job workers), not here.
    """

    def __init__(self, settings: Settings, factory: PipelineFactory | None = None) -> None:
        self._settings = settings
        self._factory = factory or default_pipeline_factory
        self._lock = threading.Lock()
        self._idle: dict[RunOptions, list[Any]] = {}

    @contextmanager
    def lease(self, options: RunOptions) -> Iterator[Any]:
        with self._lock:
            idle = self._idle.setdefault(options, [])
            pipeline = idle.pop() if idle else None
        if pipeline is None:
            pipeline = self._factory(request_settings(self._settings, options))
        try:
            yield pipeline
        finally:
            with self._lock:
                self._idle[options].append(pipeline)

    def size(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())


def selected_count(pages: str | None, page_count: int) -> int:
    from tierocr.inputs.pages import parse_page_range

    try:
        return len(parse_page_range(pages, page_count))
    except ValueError as exc:
        raise PageRangeError(str(exc)) from exc


def run_pages(
    pipeline: Any,
    source: Path | bytes,
    *,
    name: str | None,
    pages: str | None,
    max_pages: int,
    cancel: threading.Event,
    on_header: Callable[[Document, int], None] | None = None,
    on_page: Callable[[Page, int, int], None] | None = None,
) -> Document:
    """Parse a document page by page, checking ``cancel`` between pages; blocking, run it in a thread.

    The page limit is checked against the header, before any page is parsed, so an oversize document costs
    one open rather than the first ``max_pages`` pages of work.
    """
    iterator = pipeline.iter_pages(source, name=name, pages=pages)
    try:
        header: Document = iterator.document
        total = selected_count(pages, header.page_count)
        if total > max_pages:
            raise LimitExceededError(
                f"{header.source}: {total} pages selected, over this server's limit of {max_pages} per "
                "request (send a page range, or submit it to /api/jobs)"
            )
        if on_header is not None:
            on_header(header, total)
        done: list[Page] = []
        if cancel.is_set():
            raise CancelledError("cancelled before the first page")
        for page in iterator:
            done.append(page)
            if on_page is not None:
                on_page(page, len(done), total)
            if cancel.is_set():
                raise CancelledError(f"cancelled after {len(done)} of {total} pages")
        return header.model_copy(update={"pages": done})
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()


def render_markdown_text(doc: Document, settings: Settings) -> str:
    from tierocr.render.markdown import render_markdown

    return render_markdown(doc, settings.render)


def render_page_text(page: Page, settings: Settings) -> str:
    from tierocr.render.markdown import render_page_markdown

    return render_page_markdown(page, settings.render)


def page_payload(page: Page, settings: Settings) -> dict[str, Any]:
    """What a client sees of one finished page (an SSE event): the whole Page, plus its Markdown.

    The whole Page (size, gate verdict, timings, diagnostics), so a client can show why the page took its
    tier and rebuild the Document JSON the other endpoints return; ``block_markdown`` is aligned with
    ``blocks`` so a client can tie each region to its text.
    """
    from tierocr.render.markdown import render_page_blocks

    parts = render_page_blocks(page, settings.render)
    return page.model_dump(mode="json") | {
        "markdown": "\n\n".join(part for part in parts if part),
        "block_markdown": parts,
    }


def document_payload(doc: Document, settings: Settings, fmt: str) -> dict[str, Any]:
    """A parsed document in the shape every endpoint returns: ``document`` and/or ``markdown``."""
    out: dict[str, Any] = {"source": doc.source, "page_count": doc.page_count, "pages_parsed": len(doc.pages)}
    if fmt in ("json", "both"):
        out["document"] = doc.model_dump(mode="json")
    if fmt in ("md", "both"):
        out["markdown"] = render_markdown_text(doc, settings)
    return out
