"""Table structure from a table image: ruling lines via img2table, or the layout of the words alone.

img2table (MIT, OpenCV, no weights) finds ruled and partly ruled grids from the pixels; the word grid
covers borderless tables, where only the alignment of the recognised text shows the columns. Text always
comes from our own words (OCR or text layer), never from img2table's OCR adapters.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from PIL import Image

from tierocr.document import BBox
from tierocr.layout.tables.grid import GridCell, TableStructure, Word, join_words

logger = logging.getLogger(__name__)


def img2table_structure(image: Image.Image, words: Sequence[Word]) -> TableStructure | None:
    """The largest table img2table finds on the image, filled with ``words``; None when it finds none."""
    try:
        from img2table.document import Image as Img2TableImage
    except ImportError:
        logger.warning("img2table is not installed (a tierocr dependency); tables fall back to the word grid")
        return None
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    document = Img2TableImage(src=buffer.getvalue(), detect_rotation=False)
    tables = document.extract_tables(implicit_rows=True, implicit_columns=False, borderless_tables=True)
    if not tables:
        return None
    table = max(tables, key=lambda t: (t.bbox.x2 - t.bbox.x1) * (t.bbox.y2 - t.bbox.y1))
    # img2table repeats a merged cell at every grid slot it covers; its slots give the spans.
    slots: dict[tuple[int, int, int, int], list[tuple[int, int]]] = {}
    n_cols = 0
    rows = list(table.content.values())
    for r, row in enumerate(rows):
        n_cols = max(n_cols, len(row))
        for c, cell in enumerate(row):
            key = (cell.bbox.x1, cell.bbox.y1, cell.bbox.x2, cell.bbox.y2)
            slots.setdefault(key, []).append((r, c))
    cells: list[GridCell] = []
    for (x1, y1, x2, y2), positions in slots.items():
        r0 = min(p[0] for p in positions)
        r1 = max(p[0] for p in positions)
        c0 = min(p[1] for p in positions)
        c1 = max(p[1] for p in positions)
        cells.append(
            GridCell(
                row=r0,
                col=c0,
                bbox=BBox(x0=x1, y0=y1, x1=x2, y1=y2),
                rowspan=r1 - r0 + 1,
                colspan=c1 - c0 + 1,
            )
        )
    if len(rows) < 2 or n_cols < 1:
        return None
    structure = TableStructure(n_rows=len(rows), n_cols=n_cols, cells=cells, backend="img2table")
    return structure.with_text(words)


def _rows_of(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into table rows: a word whose vertical centre falls inside a row's span joins it."""
    rows: list[tuple[float, float, list[Word]]] = []
    for word in sorted(words, key=lambda w: (w.bbox.y0 + w.bbox.y1) / 2):
        mid = (word.bbox.y0 + word.bbox.y1) / 2
        if rows and rows[-1][0] <= mid <= rows[-1][1]:
            top, bottom, members = rows[-1]
            members.append(word)
            rows[-1] = (min(top, word.bbox.y0), max(bottom, word.bbox.y1), members)
        else:
            rows.append((word.bbox.y0, word.bbox.y1, [word]))
    return [sorted(members, key=lambda w: w.bbox.x0) for _, _, members in rows]


def _column_bands(rows: Sequence[Sequence[Word]], gap: float) -> list[tuple[float, float]]:
    """Column x-ranges: the union of word spans from rows with several words, merged where they touch.

    Single-word rows (titles, group labels, spanning headers) are left out, otherwise one wide label
    would fuse every column it crosses into one.
    """
    spans = sorted((w.bbox.x0, w.bbox.x1) for row in rows if len(row) > 1 for w in row)
    if not spans:
        spans = sorted((w.bbox.x0, w.bbox.x1) for row in rows for w in row)
    bands: list[list[float]] = []
    for x0, x1 in spans:
        if bands and x0 <= bands[-1][1] + gap:
            bands[-1][1] = max(bands[-1][1], x1)
        else:
            bands.append([x0, x1])
    return [(b[0], b[1]) for b in bands]


def word_grid_structure(words: Sequence[Word], width: float, height: float) -> TableStructure | None:
    """A borderless table read from word alignment alone: rows from vertical overlap, columns from
    horizontal gaps shared by all rows; a word reaching across several columns gets a colspan."""
    if len(words) < 2:
        return None
    heights = sorted(w.bbox.height for w in words)
    gap = heights[len(heights) // 2] * 0.5
    rows = _rows_of(words)
    bands = _column_bands(rows, gap)
    if len(rows) < 2 and len(bands) < 2:
        return None

    def band_range(word: Word) -> tuple[int, int]:
        hit = [i for i, (x0, x1) in enumerate(bands) if word.bbox.x1 > x0 and word.bbox.x0 < x1]
        if not hit:
            cx = (word.bbox.x0 + word.bbox.x1) / 2
            nearest = min(range(len(bands)), key=lambda i: min(abs(bands[i][0] - cx), abs(bands[i][1] - cx)))
            return nearest, nearest
        return hit[0], hit[-1]

    cells: list[GridCell] = []
    for r, row in enumerate(rows):
        groups: list[tuple[int, int, list[Word]]] = []
        for word in row:
            lo, hi = band_range(word)
            if groups and lo <= groups[-1][1]:
                glo, ghi, members = groups[-1]
                groups[-1] = (min(glo, lo), max(ghi, hi), [*members, word])
            else:
                groups.append((lo, hi, [word]))
        for lo, hi, members in groups:
            box = members[0].bbox
            for member in members[1:]:
                box = box.union(member.bbox)
            cells.append(
                GridCell(
                    row=r,
                    col=lo,
                    bbox=box,
                    colspan=hi - lo + 1,
                    text=join_words(members),
                    words=tuple(members),
                )
            )
    return TableStructure(n_rows=len(rows), n_cols=len(bands), cells=cells, backend="word_grid")
