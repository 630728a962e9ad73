"""The serverless handler (RunPod-style ``handler(event) -> dict``), for GPU-less or per-call deployments.

Input (``event`` or ``event["input"]``), exactly one source:
``pdf_url | pdf_base64 | image_urls | images_base64 | source_url | source_base64`` (PDF or image is told
from the bytes, never the name), then ``start_page``/``end_page`` (1-based, inclusive),
``return_crop_images``, ``crop_images_base64``, ``max_crop_images``, ``return_layout_visualization``,
``layout_visualization_base64``, optional ``enable_layout`` and ``escalate``, and ``warmup`` (load the
models and return). Output: ``json_result``, ``markdown_result``, ``crop_images``,
``layout_visualizations``, ``versions``, ``notes``; a refused input answers ``error`` and ``status``.
The input is validated as a whole first (:class:`ServerlessInput`): wrong types and unknown keys are a
400 that names the field.

URLs go through the same SSRF guard and limits as the HTTP API. Crops and visualisations come from the
blocks' boxes on re-rendered page images: figure, table and formula blocks exist only in layout mode, so
without it ``crop_images`` is empty and ``notes`` says why. Needs no FastAPI.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import functools
import io
import threading
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierocr import __version__
from tierocr.config import Settings, load_settings
from tierocr.config.vlm import Escalate
from tierocr.document import BlockKind, Document, Page
from tierocr.errors import InputError, TierOcrError
from tierocr.server.fetch import FetchError, fetch_url
from tierocr.server.work import PipelineFactory, PipelinePool, RunOptions, render_markdown_text, run_pages

SOURCES = ("pdf_url", "pdf_base64", "image_urls", "images_base64", "source_url", "source_base64")
CROP_KINDS = frozenset({BlockKind.FIGURE, BlockKind.TABLE, BlockKind.FORMULA})


class HandlerError(TierOcrError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ServerlessInput(BaseModel):
    """An event's input, validated like the API's form fields and the settings they override.

    ``enable_layout`` and ``escalate`` have the types of ``layout.enabled`` and ``vlm.escalate``, so
    ``"false"`` means false here exactly as in a form or a config file, and ``"bogus"`` is refused. An
    unknown key is refused too, naming the closest known one: a misspelt option would otherwise be
    ignored and its default silently used.
    """

    model_config = ConfigDict(extra="forbid")

    pdf_url: str | None = None
    pdf_base64: str | None = None
    image_urls: list[str] | None = Field(None, min_length=1)
    images_base64: list[str] | None = Field(None, min_length=1)
    source_url: str | None = None
    source_base64: str | None = None
    start_page: int | None = Field(None, ge=1)
    end_page: int | None = Field(None, ge=1)
    return_crop_images: bool = False
    crop_images_base64: bool = True
    max_crop_images: int | None = Field(None, ge=0)
    return_layout_visualization: bool = False
    layout_visualization_base64: bool = True
    enable_layout: bool | None = None
    escalate: Escalate | None = None
    warmup: bool = False


def validate_input(job: dict[str, Any]) -> ServerlessInput:
    """The event's input, or a :class:`HandlerError` (400) whose one line names the field."""
    unknown = [key for key in job if key not in ServerlessInput.model_fields]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(ServerlessInput.model_fields), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise HandlerError(f"unknown input {unknown[0]!r}{hint}")
    try:
        return ServerlessInput.model_validate(job)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise HandlerError("; ".join(parts)) from exc


class ServerlessHandler:
    """Keeps the pipeline warm between invocations of one worker process."""

    def __init__(self, settings: Settings | None = None, *, pipeline_factory: PipelineFactory | None = None):
        self.settings = settings or load_settings()
        self.pool = PipelinePool(self.settings, pipeline_factory)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        job = event.get("input", event) if isinstance(event, dict) else {}
        if not isinstance(job, dict):
            return {"error": "the event must be a JSON object", "status": 400}
        try:
            given = validate_input(job)
            if given.warmup:
                return self.warmup()
            return self.run(given)
        except HandlerError as exc:
            return {"error": str(exc), "status": exc.status, "versions": self.versions()}
        except FetchError as exc:
            return {"error": str(exc), "status": exc.status, "versions": self.versions()}
        except InputError as exc:
            return {"error": str(exc), "status": 422, "versions": self.versions()}

    def warmup(self) -> dict[str, Any]:
        with self.pool.lease(RunOptions()) as pipeline:
            engine = getattr(pipeline, "engine", None)  # the real pipeline loads its models on this access
        return {"status": "warm", "versions": self.versions(engine)}

    def versions(self, engine: Any = None) -> dict[str, Any]:
        s = self.settings
        engines = {engine.name: engine.version()} if hasattr(engine, "version") else {s.ocr.engine: None}
        return {
            "tierocr": __version__,
            "engines": engines,
            "models": {"vlm": s.vlm.model if s.vlm.url else None, "layout": s.layout.detector},
        }

    def run(self, job: ServerlessInput) -> dict[str, Any]:
        given = [key for key in SOURCES if getattr(job, key)]
        if len(given) != 1:
            raise HandlerError(f"give exactly one of {', '.join(SOURCES)} (got {', '.join(given) or 'none'})")
        key = given[0]
        options = RunOptions(escalate=job.escalate, enable_layout=job.enable_layout)
        pages = _page_range(job.start_page, job.end_page)
        notes: list[str] = []
        if key in ("image_urls", "images_base64"):
            items = getattr(job, key)
            first, last = _slice(job.start_page, job.end_page, len(items))
            sources = [self._load(key, item) for item in items[first:last]]
            doc, images = self._images(sources, first, len(items), options)
        else:
            data = self._load(key, getattr(job, key))
            doc, images = self._document(data, pages, options)
        crops = self._crops(doc, images, job, notes)
        visuals = self._visuals(doc, images, job, notes)
        with self.pool.lease(options) as pipeline:
            # Peek, not `pipeline.engine`: that loads OCR models a text-layer PDF never needed.
            engine = getattr(pipeline, "_engine", None)
        return {
            "json_result": doc.model_dump(mode="json"),
            "markdown_result": render_markdown_text(doc, self.settings),
            "crop_images": crops,
            "layout_visualizations": visuals,
            "versions": self.versions(engine),
            "notes": notes,
        }

    def _load(self, key: str, value: str) -> bytes:
        limit = self.settings.server.max_upload_bytes
        if key.endswith("url") or key.endswith("urls"):
            return fetch_url(value, self.settings.server)
        if len(value) > limit * 4 // 3 + 4:
            raise HandlerError(f"{key}: over the limit of {limit} bytes", 413)
        payload = value.split(",", 1)[1] if value.startswith("data:") else value
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HandlerError(f"{key}: not valid base64") from exc

    def _parse(self, data: bytes, name: str, pages: str | None, options: RunOptions) -> Document:
        with self.pool.lease(options) as pipeline:
            return run_pages(
                pipeline,
                data,
                name=name,
                pages=pages,
                max_pages=self.settings.server.max_job_pages,
                cancel=threading.Event(),
            )

    def _document(self, data: bytes, pages: str | None, options: RunOptions) -> tuple[Document, list[bytes]]:
        return self._parse(data, "source", pages, options), [data]

    def _images(
        self, sources: list[bytes], offset: int, total: int, options: RunOptions
    ) -> tuple[Document, list[bytes]]:
        parsed: list[Page] = []
        for index, data in enumerate(sources):
            one = self._parse(data, f"image-{offset + index + 1}", "1", options)
            parsed.extend(p.model_copy(update={"number": offset + index + 1}) for p in one.pages[:1])
        doc = Document(source="images", mime_type="image/*", page_count=total, pages=parsed)
        return doc, sources

    def _page_images(self, doc: Document, images: list[bytes]) -> list[tuple[Page, Image.Image]]:
        """Each parsed page with its image at the page's DPI and rotation, so the block boxes fit it."""
        from tierocr.inputs import open_document

        out: list[tuple[Page, Image.Image]] = []
        if len(images) == 1 and doc.source != "images":
            numbers = ",".join(str(p.number) for p in doc.pages)
            with open_document(images[0], self.settings.input, pages=numbers or None) as loaded:
                for page, page_input in zip(doc.pages, loaded.iter_pages(), strict=False):
                    out.append((page, _upright(page_input.image, page)))
            return out
        for page, data in zip(doc.pages, images, strict=False):
            with open_document(data, self.settings.input, pages="1") as loaded:
                out.extend((page, _upright(pi.image, page)) for pi in loaded.iter_pages())
        return out

    def _crops(self, doc: Document, images: list[bytes], job: ServerlessInput, notes: list[str]) -> list[Any]:
        if not job.return_crop_images:
            return []
        wanted = [(p, b) for p in doc.pages for b in p.blocks if b.kind in CROP_KINDS and b.bbox is not None]
        if not wanted:
            notes.append(
                "no figure, table or formula blocks to crop (they come from layout mode: enable_layout)"
            )
            return []
        limit = (
            job.max_crop_images if job.max_crop_images is not None else self.settings.server.max_batch_images
        )
        as_base64 = job.crop_images_base64
        from tierocr.layout.crops import crop

        crops: list[Any] = []
        for page, image in self._page_images(doc, images):
            for index, block in enumerate(page.blocks):
                if block.kind not in CROP_KINDS or block.bbox is None or len(crops) >= limit:
                    continue
                item: dict[str, Any] = {
                    "page": page.number,
                    "index": index,
                    "kind": str(block.kind),
                    "bbox": block.bbox.model_dump(),
                }
                if as_base64:
                    item["image_base64"] = _png_base64(crop(image, block.bbox))
                crops.append(item)
        if len(wanted) > len(crops):
            notes.append(f"{len(wanted) - len(crops)} crops left out by max_crop_images={limit}")
        return crops

    def _visuals(
        self, doc: Document, images: list[bytes], job: ServerlessInput, notes: list[str]
    ) -> list[Any]:
        if not job.return_layout_visualization:
            return []
        try:
            from tierocr.layout.visualize import draw_layout, page_regions
        except ImportError:
            notes.append("layout visualisation is not part of this build")
            return []
        as_base64 = job.layout_visualization_base64
        out: list[Any] = []
        for page, image in self._page_images(doc, images):
            regions = page_regions(page)
            item: dict[str, Any] = {"page": page.number, "regions": len(regions)}
            if as_base64:
                item["image_base64"] = _png_base64(draw_layout(image, regions))
            out.append(item)
        return out


def _page_range(start: Any, end: Any) -> str | None:
    if start is None and end is None:
        return None
    try:
        first = int(start) if start is not None else 1
        last = int(end) if end is not None else None
    except (TypeError, ValueError) as exc:
        raise HandlerError("start_page and end_page must be integers") from exc
    if first < 1 or (last is not None and last < first):
        raise HandlerError(f"invalid page range start_page={start} end_page={end}")
    return f"{first}-{last if last is not None else ''}"


def _slice(start: Any, end: Any, count: int) -> tuple[int, int]:
    spec = _page_range(start, end)
    if spec is None:
        return 0, count
    first_text, _, last_text = spec.partition("-")
    first, last = int(first_text), int(last_text) if last_text else count
    if last > count:
        raise HandlerError(f"end_page={last}, but only {count} images were given", 422)
    return first - 1, last


def _upright(image: Image.Image, page: Page) -> Image.Image:
    return image.rotate(-page.rotation, expand=True) if page.rotation else image


def _png_base64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


@functools.cache
def _default_handler() -> ServerlessHandler:
    """The process's one warm handler: a serverless worker serves many events with the models loaded once."""
    return ServerlessHandler()


def handler(event: dict[str, Any]) -> dict[str, Any]:
    """Entry point for serverless runtimes (e.g. ``runpod.serverless.start({"handler": handler})``)."""
    return _default_handler()(event)
