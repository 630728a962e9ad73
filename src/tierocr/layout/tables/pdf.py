"""Table structure from a born-digital PDF page's vector ruling lines and text, via pdfplumber (MIT).

A PDF that draws its table grid holds the exact cell rectangles, and its text layer the exact words:
nothing has to be guessed from pixels. Everything here works in page pixels at the render DPI, the
coordinates of the layout regions; pdfplumber's points are converted at the edges.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierocr.document import BBox
from tierocr.layout.tables.grid import TableStructure, Word, structure_from_cell_boxes

logger = logging.getLogger(__name__)

POINTS_PER_INCH = 72.0
#: A gap wider than this share of the glyph size separates words. pdfplumber's default (3 pt, absolute)
#: glues the words of tightly set PDFs that draw no space characters.
_WORD_GAP_EM = 0.15


@dataclass(frozen=True, slots=True)
class PdfPageRef:
    """Where a rendered page came from, so pdfplumber can open the same page (0-based ``index``)."""

    path: Path
    index: int
    password: str | None = None


@contextlib.contextmanager
def _opened_page(pdf_page: Any) -> Iterator[Any]:
    """The pdfplumber page for a pdfplumber page or a :class:`PdfPageRef`; a document opened here is
    closed on exit. Raises ImportError when pdfplumber is missing."""
    if hasattr(pdf_page, "find_tables"):
        yield pdf_page
        return
    if not isinstance(pdf_page, PdfPageRef):
        raise TypeError(f"pdf_page must be a pdfplumber page or PdfPageRef, not {type(pdf_page).__name__}")
    import pdfplumber

    with pdfplumber.open(pdf_page.path, password=pdf_page.password or "") as document:
        yield document.pages[pdf_page.index]


def pdf_table_structure(pdf_page: Any, region: BBox, dpi: float) -> TableStructure | None:
    """The table drawn with vector lines inside ``region`` (page pixels at ``dpi``), with its PDF text.

    None when pdfplumber is missing, the page draws no grid there, or the grid is degenerate; the caller
    then reads the table from the image.
    """
    try:
        with _opened_page(pdf_page) as page:
            return _find(page, region, dpi / POINTS_PER_INCH)
    except ImportError:
        logger.warning("pdfplumber is missing (a tierocr dependency); PDF tables fall back to the image")
        return None


def _words(page: Any, source: Any, scale: float) -> list[Word]:
    """``source``'s words (the page or a crop of it) in page pixels, measured from the page's origin."""
    x0, top = page.bbox[0], page.bbox[1]
    return [
        Word(
            text=w["text"],
            bbox=BBox(
                x0=(w["x0"] - x0) * scale,
                y0=(w["top"] - top) * scale,
                x1=(w["x1"] - x0) * scale,
                y1=(w["bottom"] - top) * scale,
            ),
        )
        for w in source.extract_words(x_tolerance_ratio=_WORD_GAP_EM)
    ]


def pdf_words(pdf_page: Any, region: BBox, dpi: float) -> list[Word]:
    """The text layer's words inside ``region``, in page pixels: exact text for a table read from pixels."""
    scale = dpi / POINTS_PER_INCH
    try:
        with _opened_page(pdf_page) as page:
            return _words(page, page.within_bbox(_to_points(region, scale, page), strict=False), scale)
    except ImportError:
        return []


def page_words(pdf_page: Any, dpi: float) -> list[Word]:
    """Every word of the page in page pixels; empty when pdfplumber is missing or any glyph has no
    Unicode mapping (pdfminer writes those as ``(cid:N)``, where PDFium's own layer does better)."""
    try:
        with _opened_page(pdf_page) as page:
            words = _words(page, page, dpi / POINTS_PER_INCH)
    except ImportError:
        return []
    if any("(cid:" in w.text for w in words):
        return []
    return words


def _to_points(region: BBox, scale: float, page: Any) -> tuple[float, float, float, float]:
    x0, top, x1, bottom = page.bbox
    return (
        max(x0, region.x0 / scale + x0),
        max(top, region.y0 / scale + top),
        min(x1, region.x1 / scale + x0),
        min(bottom, region.y1 / scale + top),
    )


def _find(page: Any, region: BBox, scale: float) -> TableStructure | None:
    # Layout boxes are often a little tight; pad so the outer rules fall inside the crop.
    pad = 6.0 * scale
    padded = BBox(x0=region.x0 - pad, y0=region.y0 - pad, x1=region.x1 + pad, y1=region.y1 + pad)
    crop = page.within_bbox(_to_points(padded, scale, page), strict=False)
    tables = crop.find_tables(table_settings={"vertical_strategy": "lines", "horizontal_strategy": "lines"})
    if not tables:
        return None
    table = max(tables, key=lambda t: (t.bbox[2] - t.bbox[0]) * (t.bbox[3] - t.bbox[1]))
    boxes = [BBox(x0=c[0] * scale, y0=c[1] * scale, x1=c[2] * scale, y1=c[3] * scale) for c in table.cells]
    structure = structure_from_cell_boxes(boxes, tolerance=2.0 * scale, backend="pdfplumber")
    if structure is None or structure.n_rows * structure.n_cols < 2:
        return None
    words = [
        Word(
            text=w["text"],
            bbox=BBox(x0=w["x0"] * scale, y0=w["top"] * scale, x1=w["x1"] * scale, y1=w["bottom"] * scale),
        )
        for w in page.within_bbox(table.bbox, strict=False).extract_words(x_tolerance_ratio=_WORD_GAP_EM)
    ]
    return structure.with_text(words)
