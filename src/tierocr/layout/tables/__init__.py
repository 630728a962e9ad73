"""Table structure without a VLM, as HTML with rowspan/colspan.

Chosen by TEDS on the corpus's PubTabNet rows (bench/layout_tables_teds.py): img2table's grid with our
words scored 0.852 (TEDS-S 0.904), the word-alignment grid 0.635, pdfplumber's text strategy 0.491.
So images go to img2table, with the word grid only when img2table finds no table; born-digital pages
try pdfplumber's vector-line cells first, which are exact when the PDF draws its grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from tierocr.document import BBox
from tierocr.layout.tables.grid import GridCell, TableStructure, Word
from tierocr.layout.tables.image import img2table_structure, word_grid_structure
from tierocr.layout.tables.pdf import PdfPageRef, pdf_table_structure

__all__ = [
    "GridCell",
    "PdfPageRef",
    "TableStructure",
    "Word",
    "recognize_table",
]


def recognize_table(
    crop: Image.Image,
    words: Sequence[Word],
    *,
    backend: str = "auto",
    pdf_page: Any = None,
    region: BBox | None = None,
    dpi: float | None = None,
) -> TableStructure | None:
    """The structure of the table in ``crop`` (``words`` in crop pixels), or None when no grid is found.

    ``pdf_page`` with ``region`` (page pixels) and ``dpi`` lets pdfplumber read the PDF's own ruling
    lines; its cells come back shifted into crop pixels like every other backend's.
    """
    if backend in {"auto", "pdfplumber"} and pdf_page is not None and region is not None and dpi:
        structure = pdf_table_structure(pdf_page, region, dpi)
        if structure is not None:
            return _shift(structure, -region.x0, -region.y0)
        if backend == "pdfplumber":
            return None
    if backend in {"auto", "img2table"}:
        structure = img2table_structure(crop, words)
        if structure is not None or backend == "img2table":
            return structure
    return word_grid_structure(words, crop.width, crop.height)


def _shift(structure: TableStructure, dx: float, dy: float) -> TableStructure:
    cells = [
        GridCell(
            row=c.row,
            col=c.col,
            bbox=BBox(x0=c.bbox.x0 + dx, y0=c.bbox.y0 + dy, x1=c.bbox.x1 + dx, y1=c.bbox.y1 + dy),
            rowspan=c.rowspan,
            colspan=c.colspan,
            text=c.text,
        )
        for c in structure.cells
    ]
    return TableStructure(structure.n_rows, structure.n_cols, cells, structure.header_rows, structure.backend)
