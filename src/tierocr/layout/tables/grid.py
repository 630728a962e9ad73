"""One table shape for every structure backend: cells on a grid with spans, rendered to HTML.

img2table, pdfplumber and the OCR-line grid each find cells their own way; filling the cells with
text and writing HTML (with rowspan/colspan) happens here once so the backends are comparable.
"""

from __future__ import annotations

import html
import itertools
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
    #: The words the text was made of, so checks can see where each word landed.
    words: tuple[Word, ...] = ()


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
        """A copy whose cells hold the words that fall in them, in reading order.

        A word goes to the cell it overlaps most, else to the nearest cell, so no recognised text is
        silently lost; a line read across several cells of one row (OCR joins close cells) is first
        split into its words, each placed on its own.
        """
        if not self.cells:
            return self
        buckets: dict[int, list[Word]] = {i: [] for i in range(len(self.cells))}
        for word in words:
            for piece in _split_across(word, self.cells):
                buckets[_best_cell(self.cells, piece.bbox)].append(piece)
        cells = [
            replace(cell, text=join_words(buckets[i]), words=tuple(buckets[i]))
            for i, cell in enumerate(self.cells)
        ]
        return TableStructure(self.n_rows, self.n_cols, cells, self.header_rows, self.backend)

    def compact(self) -> TableStructure:
        """A copy without the rows and columns that no filled cell reaches: a structure model draws
        blank rows and columns where an image has space, which would come out as empty HTML."""
        filled = [c for c in self.cells if c.text.strip()]
        if not filled:
            return self
        rows = sorted({r for c in filled for r in range(c.row, c.row + c.rowspan)})
        cols = sorted({k for c in filled for k in range(c.col, c.col + c.colspan)})
        if len(rows) == self.n_rows and len(cols) == self.n_cols:
            return self
        row_at = {r: i for i, r in enumerate(rows)}
        col_at = {k: i for i, k in enumerate(cols)}
        cells: list[GridCell] = []
        for cell in self.cells:
            kept_rows = [row_at[r] for r in range(cell.row, cell.row + cell.rowspan) if r in row_at]
            kept_cols = [col_at[k] for k in range(cell.col, cell.col + cell.colspan) if k in col_at]
            if kept_rows and kept_cols:
                cells.append(
                    replace(
                        cell,
                        row=kept_rows[0],
                        col=kept_cols[0],
                        rowspan=len(kept_rows),
                        colspan=len(kept_cols),
                    )
                )
        header_rows = sum(1 for r in rows if r < self.header_rows)
        return TableStructure(len(rows), len(cols), cells, header_rows, self.backend)

    @property
    def text(self) -> str:
        """The table as plain text: one line per row, cells joined by `` | ``, each cell's text once
        (a spanned slot stays empty), so the text holds each word exactly as often as the table does."""
        grid = [["" for _ in range(self.n_cols)] for _ in range(self.n_rows)]
        for cell in self.cells:
            if 0 <= cell.row < self.n_rows and 0 <= cell.col < self.n_cols:
                grid[cell.row][cell.col] = cell.text
        return "\n".join(" | ".join(row) for row in grid if any(row))

    @property
    def text_rows(self) -> list[list[str]]:
        """The table as rows of strings, spans repeated, for tests and Markdown fallbacks."""
        grid = [["" for _ in range(self.n_cols)] for _ in range(self.n_rows)]
        for cell in self.cells:
            for r in range(cell.row, min(cell.row + cell.rowspan, self.n_rows)):
                for c in range(cell.col, min(cell.col + cell.colspan, self.n_cols)):
                    grid[r][c] = cell.text
        return grid


def _best_cell(cells: Sequence[GridCell], box: BBox) -> int:
    """The cell holding most of ``box``; when none overlaps it, the one nearest its centre."""
    overlaps = [_intersection(cell.bbox, box) for cell in cells]
    best = max(range(len(cells)), key=lambda i: overlaps[i])
    if overlaps[best] > 0:
        return best
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    return min(range(len(cells)), key=lambda i: _distance(cells[i].bbox, cx, cy))


def _intersection(a: BBox, b: BBox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


#: A line is cut between cells only when each of them holds at least this share of its width.
_SPLIT_SHARE = 0.25


def _split_across(word: Word, cells: Sequence[GridCell]) -> list[Word]:
    """``word`` cut into its space-separated parts when it runs across several cells side by side,
    each part's box estimated from its share of the characters; else ``[word]``."""
    parts = word.text.split()
    if len(parts) < 2 or word.bbox.width <= 0:
        return [word]
    b = word.bbox
    crossed = [
        cell.bbox
        for cell in cells
        if _intersection(cell.bbox, b) > 0
        and min(cell.bbox.y1, b.y1) - max(cell.bbox.y0, b.y0) > 0.5 * min(b.height, cell.bbox.height)
        # A good share of the line in each: a neighbour's box reaching over its edge is not a cell of it.
        and min(cell.bbox.x1, b.x1) - max(cell.bbox.x0, b.x0) >= _SPLIT_SHARE * b.width
    ]
    # Cells side by side; boxes lying over each other (a model's guesses) give no place to cut.
    beside = [
        (p, q)
        for p, q in itertools.combinations(crossed, 2)
        if min(p.x1, q.x1) - max(p.x0, q.x0) < _SPLIT_SHARE * min(p.width, q.width)
    ]
    if not beside:
        return [word]
    per_char = b.width / max(len(word.text), 1)
    pieces: list[Word] = []
    start = 0
    for part in parts:
        start = word.text.index(part, start)
        x0 = b.x0 + start * per_char
        start += len(part)
        pieces.append(Word(text=part, bbox=BBox(x0=x0, y0=b.y0, x1=b.x0 + start * per_char, y1=b.y1)))
    return pieces


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
