"""Routing: each page takes the cheapest tier that reads it right.

A PDF page whose own text layer is usable is taken from it (milliseconds, exact); every other page is
rendered, turned upright and read by the classical OCR engine (or, in layout mode, region by region).
The quality gate then judges the classical read, and only pages it rejects go to the vision-language
model; if that fails the classical page stays, marked. Pages are read by ``pipeline.workers`` workers at
once (:mod:`tierocr.parallel`) and delivered in page order, escalated by windows of pages when a VLM is
configured (so that their requests are in flight together); a 300-page document costs the memory of the
few pages in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PIL import Image

from tierocr.config import Settings
from tierocr.document import FATAL_STAGES, Document, Page, PageError, Provenance, Tier
from tierocr.engines import OcrEngine, create_engine
from tierocr.engines.deskew import deskew, measure_skew
from tierocr.engines.device import CPU_PROVIDER, CUDA_PROVIDER, planned_compute, resolve_device
from tierocr.engines.orientation import OrientationFixer
from tierocr.errors import EngineUnavailableError
from tierocr.escalation import Escalator, gate_page
from tierocr.inputs import LoadedDocument, PageInput, TextLine, open_document
from tierocr.inputs.base import FailedPageInput, TextLayer
from tierocr.inputs.textlayer import is_usable
from tierocr.layout.blocks import lines_to_blocks
from tierocr.layout.pdf_pages import LazyPdfPage, PdfPages
from tierocr.layout.reading_order import Line
from tierocr.layout.separators import find_separators
from tierocr.parallel import PageDone, PageRunner, RunEvent, Source, document_header
from tierocr.parallel.processes import ProcessPages
from tierocr.parallel.sizing import model_threads, page_workers, pages_in_flight
from tierocr.quality import PageJudge

if TYPE_CHECKING:
    from tierocr.layout.parser import LayoutParser
    from tierocr.layout.tables.pdf import PdfPageRef

log = logging.getLogger(__name__)

_TEXT_LAYER_PROVENANCE = Provenance(tier=Tier.TEXT_LAYER, engine="pdfium")


class PageStream(Iterator[Page]):
    """Pages of one document as they are produced; ``document`` is the header (no pages) known upfront."""

    def __init__(
        self, pipeline: Pipeline, loaded: LoadedDocument, source: Path | bytes, name: str | None = None
    ) -> None:
        self._loaded = loaded
        self.document = document_header(loaded)
        self.total = len(loaded.selected)
        self._events = pipeline.run([Source(source, name=name, opened=loaded, header=self.document)])

    def __next__(self) -> Page:
        for event in self._events:
            if isinstance(event, PageDone):
                return event.page
        self.close()
        raise StopIteration

    def close(self) -> None:
        self._events.close()
        self._loaded.close()

    def __enter__(self) -> PageStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Pipeline:
    """Parses documents with one set of settings; engines and models load on first need and are reused."""

    def __init__(self, settings: Settings, engine: OcrEngine | None = None) -> None:
        self.workers = page_workers(settings.pipeline)
        self.pages_in_flight = pages_in_flight(settings.pipeline, self.workers)
        threads = model_threads(settings.ocr.threads, self.workers)
        if threads != settings.ocr.threads:
            settings = settings.model_copy(
                update={"ocr": settings.ocr.model_copy(update={"threads": threads})}
            )
        self.settings = settings
        self.device = resolve_device(settings.ocr.device)
        self._engine = engine
        self._orientation = (
            OrientationFixer(settings.ocr.rotation_min_confidence, settings.ocr.threads, self.device)
            if settings.ocr.fix_rotation
            else None
        )
        self._layout: LayoutParser | None = None
        self._layout_tried = False
        self._escalator: Escalator | None = None
        self._judge: PageJudge | None = None
        # Page workers reach for the models at the same moment: each is built once, under this lock.
        self._init_lock = threading.RLock()
        self._processes: ProcessPages | None = None

    @property
    def engine(self) -> OcrEngine:
        if self._engine is None:
            with self._init_lock:
                if self._engine is None:
                    self._engine = create_engine(self.settings.ocr)
        return self._engine

    @property
    def layout(self) -> LayoutParser | None:
        """The layout parser in layout mode; None (full-page mode, with a warning) when it cannot load."""
        if self.settings.layout.enabled and not self._layout_tried:
            with self._init_lock:
                if not self._layout_tried:
                    from tierocr.layout.parser import try_create_layout_parser

                    self._layout = try_create_layout_parser(self.settings, self.engine)
                    self._layout_tried = True
        return self._layout

    @property
    def judge(self) -> PageJudge:
        """The quality gate; it keeps its model and second engine loaded across pages."""
        if self._judge is None:
            with self._init_lock:
                if self._judge is None:
                    self._judge = PageJudge(self.settings)
        return self._judge

    @property
    def escalating(self) -> bool:
        vlm = self.settings.vlm
        return vlm.escalate != "never" and vlm.url is not None

    @property
    def window(self) -> int:
        """Pages processed before their escalations are sent together (1: pure streaming)."""
        return self.settings.vlm.max_concurrency if self.escalating else 1

    def iter_pages(
        self, source: Path | str | bytes, *, name: str | None = None, pages: str | None = None
    ) -> PageStream:
        """Open ``source`` and return a stream of its parsed pages. Input errors raise here, upfront."""
        loaded = open_document(source, self.settings.input, name=name, pages=pages)
        return PageStream(self, loaded, source if isinstance(source, bytes) else Path(source), name)

    def run(self, sources: Iterable[Source]) -> Generator[RunEvent, None, None]:
        """Several documents through the page workers, the next one started while the last pages of the
        one before are still being read; events in document and page order (see :mod:`tierocr.parallel`)."""
        return PageRunner(self).run(sources)

    def processes(self) -> ProcessPages:
        """The worker processes of ``pipeline.backend = process``, started on first use and kept."""
        with self._init_lock:
            if self._processes is None:
                section = self.settings.pipeline.model_copy(update={"workers": 1})
                # A plain Settings (a YAML-configured one is of a subclass made on the fly) pickles.
                child = self.settings.model_copy(update={"pipeline": section})
                child = Settings.model_validate(child.model_dump())
                self._processes = ProcessPages(child, self.workers)
            return self._processes

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker processes, if any (after their current page, or at once)."""
        with self._init_lock:
            processes, self._processes = self._processes, None
        if processes is not None:
            processes.close(wait_for_pages=wait)

    def compute_info(self) -> dict[str, Any]:
        """The device asked for, the one used, and the execution provider of each model, for the JSON's
        metadata and the API. On CUDA the models are loaded to ask them; on the CPU nothing is loaded."""
        if self._processes is not None and self._processes.compute is not None:
            return dict(self._processes.compute)
        report = planned_compute(self.settings, self.device)
        if not self.device.cuda:
            return report
        providers = report["providers"]
        components: list[Any] = []
        if "ocr_det" in providers:
            engine = self.engine
            asked = getattr(engine, "providers", None)
            providers.update(asked() if callable(asked) else {})
            components.append(engine)
        if self.settings.layout.enabled and self.settings.layout.detector == "rapid":
            detector = getattr(self.layout, "detector", None)
            providers["layout"] = getattr(detector, "provider", None) or providers["layout"]
            components.append(detector)
        if self._orientation is not None:
            self._orientation.load()
            providers["orientation"] = CUDA_PROVIDER if self._orientation.device.cuda else CPU_PROVIDER
            components.append(self._orientation)
        for component in components:
            reason = getattr(getattr(component, "device", None), "fallback", None)
            if reason and reason not in report["fallback"]:
                report["fallback"].append(reason)
        return report

    def parse(
        self, source: Path | str | bytes, *, name: str | None = None, pages: str | None = None
    ) -> Document:
        with self.iter_pages(source, name=name, pages=pages) as stream:
            document = stream.document
            for page in stream:
                document.pages.append(page)
        return document

    def process_page(self, page_input: PageInput) -> Page:
        """One page through every tier, escalation included."""
        return self.escalate([self.classical_page(page_input)])[0]

    def process_image(self, image: Image.Image, number: int = 1, dpi: float = 300.0) -> Page:
        """One image (an API upload, a crop) through the tiers, with no document around it."""
        page = Page(number=number, width=image.width, height=image.height, dpi=dpi, tier_reason="image input")
        started = time.perf_counter()
        image = self._read_image(page, image.convert("RGB"))
        page.timings["total"] = round(time.perf_counter() - started, 4)
        return self.escalate([(gate_page(page, image, self.settings, self.judge), image)])[0]

    def classical_page(
        self, page_input: PageInput, source_path: Path | None = None, *, pdf_pages: PdfPages | None = None
    ) -> tuple[Page, Image.Image | None]:
        """The page from the text layer or the classical engine, judged by the gate.

        Returns the page and the image it was read from (None when no image was rendered), which the
        escalation needs. A failure is recorded on the page, never raised: no page is lost.
        """
        started = time.perf_counter()
        page = Page(
            number=page_input.number,
            width=page_input.width,
            height=page_input.height,
            dpi=page_input.dpi,
        )
        if isinstance(page_input, FailedPageInput):
            page.errors.append(PageError(stage="input", message=page_input.error))
            page.tier_reason = "page could not be loaded"
            return page, None
        image: Image.Image | None = None
        try:
            layer = page_input.text_layer if self.settings.text_layer.enabled else None
            usable = False
            if layer is not None:
                usable, page.tier_reason = is_usable(layer, self.settings.text_layer)
                page.timings["text_layer"] = round(time.perf_counter() - started, 4)
            else:
                enabled = self.settings.text_layer.enabled
                page.tier_reason = "image input" if enabled else "text layer disabled"
            if usable and layer is not None and self.layout is None:
                self._fill_from_text_layer(page, layer.lines)
            else:
                pdf_ref = self._pdf_ref(source_path, page_input, pdf_pages) if usable else None
                image = self._read_image(page, page_input.image, layer if usable else None, pdf_ref)
        except EngineUnavailableError as exc:  # a setup problem, the same on every page: no traceback
            log.error("page %d: %s", page_input.number, exc)
            page.errors.append(PageError(stage="ocr", message=str(exc)))
            page.tier = Tier.NONE
        except Exception as exc:  # a page that fails is kept, empty and marked, not lost
            log.exception("page %d failed", page_input.number)
            page.errors.append(PageError(stage="ocr", message=f"{type(exc).__name__}: {exc}"))
            page.tier = Tier.NONE
        page.timings["total"] = round(time.perf_counter() - started, 4)
        if any(error.stage in FATAL_STAGES for error in page.errors):
            return page, image
        if image is None and self.settings.vlm.escalate == "always" and self.escalating:
            image = page_input.image
        return gate_page(page, image, self.settings, self.judge), image

    def escalate(self, items: list[tuple[Page, Image.Image | None]]) -> list[Page]:
        """Pages whose gate verdict (or ``vlm.escalate``) calls for it, re-read by the VLM together."""
        if not self.escalating:
            return [page for page, _ in items]
        wanted = [(i, page, image) for i, (page, image) in enumerate(items) if image is not None]
        if not wanted:
            return [page for page, _ in items]
        if self._escalator is None:
            self._escalator = Escalator(self.settings)
        done = self._escalator.escalate_pages([(page, image) for _, page, image in wanted])
        out = [page for page, _ in items]
        for (i, _, _), page in zip(wanted, done, strict=True):
            out[i] = page
        return out

    def _read_image(
        self,
        page: Page,
        image: Image.Image,
        text_layer: TextLayer | None = None,
        pdf_ref: PdfPageRef | LazyPdfPage | None = None,
    ) -> Image.Image:
        """Read a page image in layout or full-page mode; returns the image the blocks refer to.

        ``text_layer`` is given only when it is usable (layout mode then takes region text from it), and
        then the page is upright by construction; otherwise the page is turned upright first.
        """
        layout = self.layout
        if self._orientation is not None and text_layer is None:
            t0 = time.perf_counter()
            rotation = self._orientation.detect(image)
            if rotation:
                image = self._orientation.rotate(image, rotation)
                page.rotation = rotation
                page.width, page.height = image.size
            page.timings["orientation"] = round(time.perf_counter() - t0, 4)
        if self.settings.ocr.deskew and text_layer is None:
            t0 = time.perf_counter()
            skew = measure_skew(image, self.settings.ocr.max_skew_degrees)
            if skew:
                image = deskew(image, skew)
                page.diagnostics["skew_degrees"] = skew
            page.timings["deskew"] = round(time.perf_counter() - t0, 4)
        if layout is not None:
            parsed = layout.parse_page(
                image, number=page.number, dpi=page.dpi, text_layer=text_layer, pdf_page=pdf_ref
            )
            page.blocks = parsed.blocks
            page.tier = parsed.tier
            page.errors.extend(parsed.errors)
            page.timings.update(parsed.timings)
            page.diagnostics.update(parsed.diagnostics)
            return image
        t0 = time.perf_counter()
        engine = self.engine
        ocr_lines = engine.recognize(image)
        page.timings["ocr"] = round(time.perf_counter() - t0, 4)
        lines = [Line(text=ln.text, bbox=ln.bbox, confidence=ln.confidence) for ln in ocr_lines]
        provenance = Provenance(tier=Tier.OCR, engine=engine.name)
        separators = find_separators(image)
        page.blocks = lines_to_blocks(lines, page.width, page.height, provenance, separators)
        page.tier = Tier.OCR
        return image

    def _pdf_ref(
        self, source_path: Path | None, page_input: PageInput, pdf_pages: PdfPages | None = None
    ) -> PdfPageRef | LazyPdfPage | None:
        """Where layout mode's table finder can read this PDF page (PDFs read from a path only): from the
        run's opened documents when it has them, else by reopening the file."""
        if source_path is None or self.layout is None:
            return None
        if pdf_pages is not None:
            return pdf_pages.page(page_input.number - 1)
        from tierocr.layout.tables.pdf import PdfPageRef

        password = self.settings.input.password
        return PdfPageRef(path=source_path, index=page_input.number - 1, password=password)

    def _fill_from_text_layer(self, page: Page, text_lines: list[TextLine]) -> None:
        lines = [Line(text=tl.text, bbox=tl.bbox, height=tl.char_height) for tl in text_lines]
        page.blocks = lines_to_blocks(lines, page.width, page.height, _TEXT_LAYER_PROVENANCE)
        page.tier = Tier.TEXT_LAYER
