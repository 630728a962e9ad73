"""One page's classical work, the same whoever runs it: the caller's thread, a worker thread or process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from tierocr.document import Page, PageError, Tier
from tierocr.inputs import PageInput
from tierocr.layout.pdf_pages import PdfPages

if TYPE_CHECKING:
    from tierocr.pipeline import Pipeline

PageResult = tuple[Page, Image.Image | None]


def read_page(
    pipeline: Pipeline, page_input: PageInput, table_path: Path | None, pdf_pages: PdfPages | None
) -> PageResult:
    """The page through the classical tiers and the gate; what it held is dropped as soon as it is read.

    A page read ahead of a slow one waits for it before it is delivered; without a VLM to send it to,
    its raster and PDFium page go now, so waiting pages cost their text, not their pixels.
    """
    try:
        page, image = pipeline.classical_page(page_input, table_path, pdf_pages=pdf_pages)
    finally:
        if pdf_pages is not None:
            pdf_pages.release(page_input.number - 1)
    if not pipeline.escalating:
        page_input.release()
        image = None
    return page, image


def lost_page(number: int, dpi: float, reason: str) -> PageResult:
    """A page whose worker could not return it, kept empty and marked as a page that failed to read."""
    page = Page(number=number, width=0.0, height=0.0, dpi=dpi, tier=Tier.NONE, tier_reason=reason)
    page.errors.append(PageError(stage="ocr", message=reason))
    return page, None
