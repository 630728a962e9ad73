"""Routing: each page takes the cheapest tier that reads it right.

A PDF page whose own text layer is usable is taken from it (milliseconds, exact); every other page is
rendered, turned upright and read by the classical OCR engine. Pages are produced one at a time, so a
300-page document costs the memory of one page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from PIL import Image

from tierocr import __version__
from tierocr.config import Settings
from tierocr.document import Document, Page, PageError, Provenance, Tier
from tierocr.engines import OcrEngine, create_engine
from tierocr.engines.orientation import OrientationFixer
from tierocr.inputs import LoadedDocument, PageInput, TextLine, open_document
from tierocr.inputs.base import FailedPageInput
from tierocr.inputs.textlayer import is_usable
from tierocr.layout.blocks import lines_to_blocks
from tierocr.layout.reading_order import Line

log = logging.getLogger(__name__)

_TEXT_LAYER_PROVENANCE = Provenance(tier=Tier.TEXT_LAYER, engine="pdfium")


class PageStream(Iterator[Page]):
    """Pages of one document as they are produced; ``document`` is the header (no pages) known upfront."""

    def __init__(self, pipeline: Pipeline, loaded: LoadedDocument) -> None:
        self._pipeline = pipeline
        self._loaded = loaded
        self._pages = loaded.iter_pages()
        self.document = Document(
            source=loaded.name,
            mime_type=loaded.mime_type,
            page_count=loaded.page_count,
            metadata={"tierocr_version": __version__, "pages_selected": loaded.selected},
        )
        self.total = len(loaded.selected)

    def __next__(self) -> Page:
        try:
            page_input = next(self._pages)
        except StopIteration:
            self.close()
            raise
        return self._pipeline.process_page(page_input)

    def close(self) -> None:
        self._loaded.close()

    def __enter__(self) -> PageStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Pipeline:
    """Parses documents with one set of settings; engines load on first need and are reused."""

    def __init__(self, settings: Settings, engine: OcrEngine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._orientation = (
            OrientationFixer(settings.ocr.rotation_min_confidence) if settings.ocr.fix_rotation else None
        )

    @property
    def engine(self) -> OcrEngine:
        if self._engine is None:
            self._engine = create_engine(self.settings.ocr)
        return self._engine

    def iter_pages(
        self, source: Path | str | bytes, *, name: str | None = None, pages: str | None = None
    ) -> PageStream:
        """Open ``source`` and return a stream of its parsed pages. Input errors raise here, upfront."""
        loaded = open_document(source, self.settings.input, name=name, pages=pages)
        return PageStream(self, loaded)

    def parse(
        self, source: Path | str | bytes, *, name: str | None = None, pages: str | None = None
    ) -> Document:
        with self.iter_pages(source, name=name, pages=pages) as stream:
            document = stream.document
            for page in stream:
                document.pages.append(page)
        return document

    def process_page(self, page_input: PageInput) -> Page:
        """One page through the tiers. An engine failure is recorded on the page, never raised."""
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
            return page
        try:
            layer = page_input.text_layer if self.settings.text_layer.enabled else None
            if layer is not None:
                usable, reason = is_usable(layer, self.settings.text_layer)
                page.timings["text_layer"] = round(time.perf_counter() - started, 4)
                page.tier_reason = reason
                if usable:
                    self._fill_from_text_layer(page, layer.lines)
                    return page
            else:
                page.tier_reason = (
                    "image input" if self.settings.text_layer.enabled else "text layer disabled"
                )
            self._fill_from_ocr(page, page_input.image)
        except Exception as exc:  # a page that fails is kept, empty and marked, not lost
            log.exception("page %d failed", page_input.number)
            page.errors.append(PageError(stage="ocr", message=f"{type(exc).__name__}: {exc}"))
            page.tier = Tier.NONE
        finally:
            page.timings["total"] = round(time.perf_counter() - started, 4)
        return page

    def process_image(self, image: Image.Image, number: int = 1, dpi: float = 300.0) -> Page:
        """OCR one image (an API upload, a crop) into a page, with no document around it."""
        page = Page(number=number, width=image.width, height=image.height, dpi=dpi)
        started = time.perf_counter()
        self._fill_from_ocr(page, image.convert("RGB"))
        page.timings["total"] = round(time.perf_counter() - started, 4)
        return page

    def _fill_from_text_layer(self, page: Page, text_lines: list[TextLine]) -> None:
        lines = [Line(text=tl.text, bbox=tl.bbox, height=tl.char_height) for tl in text_lines]
        page.blocks = lines_to_blocks(lines, page.width, page.height, _TEXT_LAYER_PROVENANCE)
        page.tier = Tier.TEXT_LAYER

    def _fill_from_ocr(self, page: Page, image: Image.Image) -> None:
        if self._orientation is not None:
            t0 = time.perf_counter()
            rotation = self._orientation.detect(image)
            if rotation:
                image = self._orientation.rotate(image, rotation)
                page.rotation = rotation
                page.width, page.height = image.size
            page.timings["orientation"] = round(time.perf_counter() - t0, 4)
        t0 = time.perf_counter()
        engine = self.engine
        ocr_lines = engine.recognize(image)
        page.timings["ocr"] = round(time.perf_counter() - t0, 4)
        lines = [Line(text=ln.text, bbox=ln.bbox, confidence=ln.confidence) for ln in ocr_lines]
        provenance = Provenance(tier=Tier.OCR, engine=engine.name)
        page.blocks = lines_to_blocks(lines, page.width, page.height, provenance)
        page.tier = Tier.OCR
