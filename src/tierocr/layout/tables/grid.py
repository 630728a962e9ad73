"""One table shape for every structure backend: cells on a grid with spans, rendered to HTML.

img2table, pdfplumber and the OCR-line grid each find cells their own way; filling the cells with
text and writing HTML (with rowspan/colspan) happens here once so the backends are comparable.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tierocr.document import BBox


@dataclass(frozen=True, slots=True)
class Word:
    """A piece of text with its box, from OCR or the PDF text layer, in the table's coordinates."""

    text: str
    bbox: BBox


@dataclass(frozen=True, slots=True)
class GridCell:
    row: int
    col: int
    bbox: BBox
    rowspan: int = 1
    colspan: int = 1
    text: str = ""


@dataclass(slots=True)
class TableStructure:
    """Cells of a table; every grid slot is covered by at most one cell (empty slots become empty cells)."""

    n_rows: int
    n_cols: int
    cells: list[GridCell] = field(default_factory=list)
    header_rows: int = 1
    backend: str = ""

    def to_html(self) -> str:
        """HTML with ``<thead>`` for the header rows, as PubTabNet and OmniDocBench write tables."""
        covered: set[tuple[int, int]] = set()
        starts = {(c.row, c.col): c for c in self.cells}
        for cell in self.cells:
            for r in range(cell.row, cell.row + cell.rowspan):
                for c in range(cell.col, cell.col + cell.colspan):
                    if (r, c) != (cell.row, cell.col):
                        covered.add((r, c))
        rows: list[str] = []
        for r in range(self.n_rows):
            parts: list[str] = []
            for c in range(self.n_cols):
                if (r, c) in covered:
                    continue
                cell = starts.get((r, c))
                attrs = ""
                text = ""
                if cell is not None:
                    text = html.escape(cell.text)
                    if cell.rowspan > 1:
                        attrs += f' rowspan="{cell.rowspan}"'
                    if cell.colspan > 1:
                        attrs += f' colspan="{cell.colspan}"'
                parts.append(f"<td{attrs}>{text}</td>")
            rows.append("<tr>" + "".join(parts) + "</tr>")
        head = min(self.header_rows, self.n_rows - 1) if self.n_rows > 1 else 0
        out = "<table>"
        if head > 0:
            out += "<thead>" + "".join(rows[:head]) + "</thead>"
        out += "<tbody>" + "".join(rows[head:]) + "</tbody></table>"
        return out

    def with_text(self, words: Sequence[Word]) -> TableStructure:
        """A copy whose cells hold the words whose centres fall inside them, in reading order.

        Words outside every cell go to the nearest cell, so no recognised text is silently lost.
        """
        if not self.cells:
            return self
        buckets: dict[int, list[Word]] = {i: [] for i in range(len(self.cells))}
        for word in words:
            cx = (word.bbox.x0 + word.bbox.x1) / 2
            cy = (word.bbox.y0 + word.bbox.y1) / 2
            best = min(range(len(self.cells)), key=lambda i: _distance(self.cells[i].bbox, cx, cy))
            buckets[best].append(word)
        cells = [replace(cell, text=join_words(buckets[i])) for i, cell in enumerate(self.cells)]
        return TableStructure(self.n_rows, self.n_cols, cells, self.header_rows, self.backend)

    @property
    def text_rows(self) -> list[list[str]]:
        """The table as rows of strings, spans repeated, for tests and Markdown fallbacks."""
        grid = [["" for _ in range(self.n_cols)] for _ in range(self.n_rows)]
        for cell in self.cells:
            for r in range(cell.row, min(cell.row + cell.rowspan, self.n_rows)):
                for c in range(cell.col, min(cell.col + cell.colspan, self.n_cols)):
                    grid[r][c] = cell.text
        return grid


def _distance(box: BBox, x: float, y: float) -> float:
    dx = max(box.x0 - x, 0.0, x - box.x1)
    dy = max(box.y0 - y, 0.0, y - box.y1)
    return dx * dx + dy * dy


def join_words(words: Sequence[Word]) -> str:
    """Words of one cell as text: lines top to bottom, words left to right, one space between."""
    if not words:
        return ""
    ordered = sorted(words, key=lambda w: (w.bbox.y0 + w.bbox.y1) / 2)
    lines: list[list[Word]] = []
    for word in ordered:
        if lines:
            last = lines[-1][-1].bbox
            mid = (word.bbox.y0 + word.bbox.y1) / 2
            if last.y0 <= mid <= last.y1:
                lines[-1].append(word)
                continue
        lines.append([word])
    return " ".join(" ".join(w.text for w in sorted(line, key=lambda w: w.bbox.x0)) for line in lines).strip()


def _cluster(values: Sequence[float], tolerance: float) -> list[float]:
    """Sorted edge positions with those closer than ``tolerance`` merged into their mean."""
    groups: list[list[float]] = []
    for value in sorted(values):
        if groups and value - groups[-1][-1] <= tolerance:
            groups[-1].append(value)
        else:
            groups.append([value])
    return [sum(g) / len(g) for g in groups]


def _nearest(edges: Sequence[float], value: float) -> int:
    return min(range(len(edges)), key=lambda i: abs(edges[i] - value))


def structure_from_cell_boxes(boxes: Sequence[BBox], tolerance: float, backend: str) -> TableStructure | None:
    """A grid from cell rectangles (pdfplumber's cells): shared edges define rows and columns, and a
    cell reaching across several of them gets a span."""
    if not boxes:
        return None
    xs = _cluster([v for b in boxes for v in (b.x0, b.x1)], tolerance)
    ys = _cluster([v for b in boxes for v in (b.y0, b.y1)], tolerance)
    if len(xs) < 2 or len(ys) < 2:
        return None
    cells: list[GridCell] = []
    taken: set[tuple[int, int]] = set()
    for box in sorted(boxes, key=lambda b: (b.y0, b.x0)):
        r0, r1 = _nearest(ys, box.y0), _nearest(ys, box.y1)
        c0, c1 = _nearest(xs, box.x0), _nearest(xs, box.x1)
        if r1 <= r0 or c1 <= c0:
            continue
        slots = {(r, c) for r in range(r0, r1) for c in range(c0, c1)}
        if slots & taken:
            continue
        taken |= slots
        cells.append(GridCell(row=r0, col=c0, bbox=box, rowspan=r1 - r0, colspan=c1 - c0))
    if not cells:
        return None
    return TableStructure(n_rows=len(ys) - 1, n_cols=len(xs) - 1, cells=cells, backend=backend)
