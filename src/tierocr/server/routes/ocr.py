"""Single images: recognise (text, table, formula), extract fields, and batches of images."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from PIL import Image

from tierocr.errors import InputError
from tierocr.server import extract as ex
from tierocr.server.deps import document_source, require_api_key
from tierocr.server.errors import ServiceUnavailableError, UnprocessableError, input_error_status
from tierocr.server.limits import BadInputError, UnsupportedMediaError, open_image, safe_name, sniff_upload
from tierocr.server.state import AppState, get_state
from tierocr.server.work import LimitExceededError, RunOptions, render_page_text

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/ocr", tags=["ocr"], dependencies=[Depends(require_api_key)])

Task = Literal["text", "table", "formula"]


def _recognize(state: AppState, image: Image.Image, task: str) -> dict[str, Any]:
    """Blocking. Text goes through the pipeline (reading order, blocks); tables and formulas need the VLM."""
    if task == "text":
        with state.pool.lease(RunOptions()) as pipeline:
            page = pipeline.process_image(image, number=1, dpi=state.settings.input.dpi)
        state.metrics.pages.labels(str(page.tier)).inc()
        return {
            "task": task,
            "text": page.text,
            "markdown": render_page_text(page, state.settings),
            "tier": str(page.tier),
            "blocks": [b.model_dump(mode="json") for b in page.blocks],
        }
    output = state.vlm(task).recognize(image, task)
    key = "html" if task == "table" else "latex"
    return {"task": task, key: output, "text": output, "tier": "vlm", "model": state.settings.vlm.model}


@router.post("/recognize", summary="Read one image: its text, an HTML table or a LaTeX formula")
async def recognize(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    image: Annotated[UploadFile, File(description="A PNG, JPEG, TIFF, WebP, BMP or GIF image.")],
    task: Annotated[Task, Form()] = "text",
) -> dict[str, Any]:
    data = await image.read()
    label = safe_name(image.filename, "image")
    sniff_upload(data, label, images_only=True)
    cancel = threading.Event()
    max_pixels = state.settings.input.max_image_pixels

    def work() -> dict[str, Any]:
        if task != "text":
            state.vlm(task)  # refuse before decoding when the tier is missing
        return _recognize(state, open_image(data, label, max_pixels), task)

    return await state.run_blocking(work, cancel, state.settings.server.request_timeout_s, request)


@router.post("/extract", summary="Fill the fields of a JSON schema from an image or one PDF page")
async def extract(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    file: Annotated[UploadFile, File(description="An image or a PDF.")],
    fields_schema: Annotated[
        str, Form(alias="schema", description="JSON object of the fields wanted (template or JSON Schema).")
    ],
    page: Annotated[int, Form(ge=1, description="Which PDF page to read.")] = 1,
) -> dict[str, Any]:
    try:
        specs = ex.parse_schema(fields_schema, state.settings.server.max_schema_fields)
    except ex.SchemaError as exc:
        raise HTTPException(422, str(exc)) from exc
    data, label, _ = await document_source(state, file, None)
    settings = state.settings
    cancel = threading.Event()
    use_vlm = bool(settings.vlm.url)

    def work() -> dict[str, Any]:
        pages = str(page)  # a PDF page, or a frame of a multi-page TIFF
        if use_vlm:
            values = state.vlm("extract").extract(_page_image(state, data, label, pages), ex.template(specs))
            method = "vlm"
        else:
            doc = state.parse(
                data,
                name=label,
                pages=pages,
                options=RunOptions(escalate="never"),
                cancel=cancel,
                max_pages=1,
            )
            values = ex.search_fields(specs, "\n".join(p.text for p in doc.pages))
            method = "ocr_key_value"
        try:
            fields = ex.validate(specs, values)
        except ex.ExtractError as exc:
            raise UnprocessableError(f"{label}: {exc}") from exc
        return {"source": label, "page": page, "method": method, "fields": fields}

    return await state.run_blocking(work, cancel, settings.server.request_timeout_s, request)


def _page_image(state: AppState, data: bytes, label: str, pages: str | None) -> Image.Image:
    from tierocr.inputs import open_document

    with open_document(data, state.settings.input, name=label, pages=pages) as loaded:
        for page_input in loaded.iter_pages():
            return page_input.image.copy()
    raise BadInputError(f"{label}: no page to read")


@router.post("/batch", summary="Recognise several images; one failing image does not fail the others")
async def batch(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    images: Annotated[list[UploadFile], File(description="The images, as repeated `images` parts.")],
    task: Annotated[Task, Form()] = "text",
) -> dict[str, Any]:
    limit = state.settings.server.max_batch_images
    if len(images) > limit:
        raise HTTPException(413, f"{len(images)} images, over this server's limit of {limit} per batch")
    max_pixels = state.settings.input.max_image_pixels
    timeout = state.settings.server.request_timeout_s

    async def one(index: int, upload: UploadFile) -> dict[str, Any]:
        label = safe_name(upload.filename, f"image-{index}")
        item: dict[str, Any] = {"index": index, "name": label}
        try:
            data = await upload.read()
            sniff_upload(data, label, images_only=True)
            result = await state.run_blocking(
                lambda: _recognize(state, open_image(data, label, max_pixels), task),
                threading.Event(),
                timeout,
                request,
            )
        except (
            BadInputError,
            UnsupportedMediaError,
            LimitExceededError,
            ServiceUnavailableError,
            InputError,
            HTTPException,
        ) as exc:
            return item | {"ok": False, "status": _status(exc), "error": str(getattr(exc, "detail", exc))}
        except Exception as exc:  # one broken image must not take the batch down with it
            log.exception("batch item %d failed", index)
            return item | {"ok": False, "status": 500, "error": f"{type(exc).__name__}: {exc}"}
        return item | {"ok": True, "result": result}

    results = await asyncio.gather(*(one(i, u) for i, u in enumerate(images)))
    return {
        "task": task,
        "count": len(results),
        "failed": sum(not r["ok"] for r in results),
        "results": results,
    }


def _status(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, InputError):
        return input_error_status(exc)
    return {BadInputError: 422, UnsupportedMediaError: 415, LimitExceededError: 413}.get(type(exc), 503)
