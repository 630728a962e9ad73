"""Whole documents: `POST /api/ocr/document` answers once; `/stream` sends each page as it is done (SSE)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from sse_starlette import EventSourceResponse, ServerSentEvent

from tierocr.config.vlm import Escalate
from tierocr.document import Document, Page
from tierocr.server.deps import check_pages, document_source, require_api_key
from tierocr.server.page_images import page_image
from tierocr.server.state import AppState, get_state
from tierocr.server.work import RunOptions, document_payload, page_payload

router = APIRouter(prefix="/api/ocr", tags=["documents"], dependencies=[Depends(require_api_key)])

Format = Literal["md", "json", "both"]


@router.post("/document", summary="Parse a PDF or image into Document JSON and/or Markdown")
async def parse_document(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    file: Annotated[UploadFile | None, File(description="The PDF or image.")] = None,
    url: Annotated[str | None, Form(description="Fetch the document from here instead.")] = None,
    pages: Annotated[str | None, Form(description="Page range, e.g. 1-5,8.")] = None,
    enable_layout: Annotated[bool | None, Form()] = None,
    escalate: Annotated[Escalate | None, Form()] = None,
    format: Annotated[Format, Form()] = "both",
) -> dict[str, Any]:
    data, label, _ = await document_source(state, file, url)
    pages = check_pages(pages)
    options = RunOptions(escalate=escalate, enable_layout=enable_layout)
    cancel = threading.Event()
    settings = state.settings

    def work() -> dict[str, Any]:
        doc = state.parse(
            data, name=label, pages=pages, options=options, cancel=cancel, max_pages=settings.server.max_pages
        )
        return document_payload(doc, settings, format)

    return await state.run_blocking(work, cancel, settings.server.request_timeout_s, request)


@router.post(
    "/document/stream",
    summary="Parse a document, streaming progress, each page and a summary as server-sent events",
    response_class=EventSourceResponse,
)
async def stream_document(
    state: Annotated[AppState, Depends(get_state)],
    file: Annotated[UploadFile | None, File()] = None,
    url: Annotated[str | None, Form()] = None,
    pages: Annotated[str | None, Form()] = None,
    enable_layout: Annotated[bool | None, Form()] = None,
    escalate: Annotated[Escalate | None, Form()] = None,
    page_images: Annotated[
        bool, Form(description="Add each page's image (JPEG, base64, bounded by page_image_max_px).")
    ] = False,
) -> EventSourceResponse:
    data, label, _ = await document_source(state, file, url)
    pages = check_pages(pages)
    options = RunOptions(escalate=escalate, enable_layout=enable_layout)
    settings = state.settings
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    started = time.perf_counter()

    def push(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (kind, value))

    def on_page(page: Page, done: int, total: int) -> None:
        payload = page_payload(page, settings)
        if page_images:
            payload["image"] = page_image(data, page, settings)
        push("page", (payload, done, total))

    def work() -> Document:
        return state.parse(
            data,
            name=label,
            pages=pages,
            options=options,
            cancel=cancel,
            max_pages=settings.server.max_pages,
            on_header=lambda doc, total: push("header", (doc, total)),
            on_page=on_page,
        )

    future = loop.run_in_executor(state.executor, work)
    future.add_done_callback(lambda f: push("done", f))
    # Errors found on opening (corrupt file, too many pages) become a plain 4xx, before the stream starts.
    first_kind, first = await events.get()
    if first_kind == "done":
        await first  # raises the opening error; a document with a header always sends "header" first
    header, total = first

    async def stream() -> AsyncIterator[ServerSentEvent]:
        finished = False
        tiers: dict[str, int] = {}
        deadline = started + settings.server.request_timeout_s
        try:
            yield _event(
                "progress",
                {
                    "source": header.source,
                    "mime_type": header.mime_type,
                    "metadata": header.metadata,
                    "page_count": header.page_count,
                    "pages_selected": total,
                    "pages_done": 0,
                },
            )
            while True:
                try:
                    kind, value = await asyncio.wait_for(
                        events.get(), max(0.0, deadline - time.perf_counter())
                    )
                except TimeoutError:
                    finished = True
                    yield _event(
                        "error", {"status": 504, "detail": "stream took longer than request_timeout_s"}
                    )
                    return
                if kind == "page":
                    payload, done, total_ = value
                    tiers[payload["tier"]] = tiers.get(payload["tier"], 0) + 1
                    yield _event("page", payload)
                    yield _event("progress", {"pages_done": done, "pages_selected": total_})
                    continue
                error = value.exception()
                finished = True
                if error is not None:
                    yield _event("error", {"detail": str(error), "type": type(error).__name__})
                    return
                yield _event(
                    "summary",
                    {
                        "source": header.source,
                        "page_count": header.page_count,
                        "pages_parsed": len(value.result().pages),
                        # known only at the end (which device and models read it): the header's, completed
                        "metadata": value.result().metadata,
                        "tiers": tiers,
                        "seconds": round(time.perf_counter() - started, 3),
                    },
                )
                return
        finally:
            cancel.set()  # a client that went away stops the parse at its next page boundary
            if not finished:
                state.metrics.stream_cancelled.inc()

    return EventSourceResponse(stream())


def _event(kind: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, ensure_ascii=False), event=kind)
