"""Is a found grid a table, or text that a detector boxed and a structure model gridded anyway?

A layout detector calls receipts, forms and pages of notes "table", and every structure backend returns
some grid for any image. Reading such a region as a table moves its lines into cells out of order (a
receipt's header lines all in one cell, two unrelated lines of notes side by side), which loses more
than the table gains. So a grid becomes a table only when its shape is a table's: several rows and
columns, short cells, no cell holding most of the text, most rows aligned on the columns (or a ruled
grid), every word of the region in exactly one cell, and cells that follow the printed lines. Anything
else is read as text lines, and the reason is recorded.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tierocr.config.layout import TableCheckSettings
from tierocr.layout.reading_order import Line
from tierocr.layout.region_geometry import region_rows
from tierocr.layout.tables.grid import GridCell, TableStructure, Word

#: A currency sign standing alone: financial tables set it flush left of the column, apart from its figure.
CURRENCY_SIGN = re.compile(r"^[$€£¥]$")
#: A cell may wrap its text over this many printed lines (per row it spans) and still be a cell.
_WRAP = 3
#: Longest single word counted as a value (a number, a code) when values stack up in a cell.
_VALUE_CHARS = 12
#: Running text: a line of at least this many words (three times as many CJK characters)...
_SENTENCE_WORDS = 3
#: ...filling at least this share of its column's widest line; a column of text has this share of such cells.
_FULL_LINE = 0.75
_TEXT_COLUMN = 0.7


@dataclass(frozen=True, slots=True)
class GridShape:
    """Measures of a filled grid against the region's words, for the verdict and for diagnostics."""

    rows: int
    cols: int
    cell_share: float
    median_cell_chars: float
    aligned_rows: float
    tangled_lines: float
    tall_share: float
    split_cells: float
    stacked_rows: float
    misaligned_rows: float
    text_columns: int
    missing: int
    extra: int


def _tokens(texts: Sequence[str]) -> Counter[str]:
    return Counter(token for text in texts for token in text.split())


def measure(structure: TableStructure, words: Sequence[Word]) -> GridShape:
    """The grid's shape: rows and columns holding text, the biggest cell's share of the characters,
    the median cell length, the share of text rows with two or more filled cells, how the cells sit on
    the printed lines (see :class:`_PrintedLines`), and the words the grid lost or invented against
    ``words`` (as a multiset of whitespace-separated tokens)."""
    filled = [c for c in structure.cells if c.text.strip()]
    chars = [len(c.text.replace(" ", "")) for c in filled]
    total = sum(chars) or 1
    per_row = Counter(c.row for c in filled)
    expected = _tokens([w.text for w in words])
    found = _tokens([c.text for c in filled])
    printed = _PrintedLines(structure)
    return GridShape(
        rows=len(per_row),
        cols=len({c.col for c in filled}),
        cell_share=max(chars, default=0) / total,
        median_cell_chars=statistics.median(chars) if chars else 0.0,
        aligned_rows=sum(1 for n in per_row.values() if n >= 2) / max(len(per_row), 1),
        tangled_lines=printed.tangled(),
        tall_share=printed.tall_share(),
        split_cells=printed.split_cells(),
        stacked_rows=printed.stacked_rows(),
        misaligned_rows=printed.misaligned_rows(),
        text_columns=len(printed.text_columns()),
        missing=sum((expected - found).values()),
        extra=sum((found - expected).values()),
    )


class _PrintedLines:
    """The grid's words placed on the lines they are printed on (rows of words as on the page)."""

    def __init__(self, structure: TableStructure) -> None:
        self.cells = sorted((c for c in structure.cells if c.words), key=lambda c: (c.row, c.col))
        lines = [[Line(text=w.text, bbox=w.bbox) for w in c.words] for c in self.cells]
        rows = region_rows([line for cell in lines for line in cell])
        self.count = len(rows)
        index = {id(line): k for k, row in enumerate(rows) for line in row}
        #: For each cell, its words as (printed line, word), top to bottom, left to right.
        self.members = [
            sorted(((index[id(line)], line) for line in cell), key=lambda m: (m[0], m[1].bbox.x0))
            for cell in lines
        ]

    def _cells(self) -> Iterator[tuple[GridCell, set[int], list[tuple[int, Line]]]]:
        for cell, members in zip(self.cells, self.members, strict=True):
            yield cell, {line for line, _ in members}, members

    def tangled(self) -> float:
        """Share of the printed lines that the grid reads out of order.

        Read cell by cell, a grid row should give back its printed lines top to bottom, apart from a
        cell wrapping its own text over a few lines. When a grid row swallows several printed lines
        that run across its cells (a receipt's header block in one row, unrelated lines of notes side
        by side), the reading jumps back up the page from one cell to the next: a printed line is
        tangled when it is read after a line :data:`_WRAP` or more lines further down, from an earlier
        cell of the same grid row.
        """
        tangled: set[int] = set()
        deepest: dict[int, int] = {}  # grid row -> the lowest printed line its earlier cells read
        for cell, lines, _ in self._cells():
            before = deepest.get(cell.row, -1)
            tangled.update(line for line in lines if before - line >= _WRAP)
            deepest[cell.row] = max(before, *lines)
        return len(tangled) / max(self.count, 1)

    def tall_share(self) -> float:
        """Share of the characters in cells holding more than :data:`_WRAP` printed lines per grid row
        they span: a paragraph or a block of lines, not a table cell."""
        total = tall = 0
        for cell, lines, _ in self._cells():
            size = len(cell.text.replace(" ", ""))
            total += size
            if len(lines) > _WRAP * cell.rowspan:
                tall += size
        return tall / max(total, 1)

    def split_cells(self) -> float:
        """Share of the filled cells holding two pieces of one printed line with a gap wider than the
        text is tall between them: two columns' text merged into one cell. A currency sign set flush
        left of its column, far from the figure it belongs to ("$      178"), is one cell's text."""
        split = 0
        for _, _, members in self._cells():
            for (line_a, a), (line_b, b) in itertools.pairwise(members):
                if (
                    line_a == line_b
                    and not CURRENCY_SIGN.match(a.text.strip())
                    and b.bbox.x0 - a.bbox.x1 > max(a.bbox.height, b.bbox.height)
                ):
                    split += 1
                    break
        return split / max(len(self.members), 1)

    def stacked_rows(self) -> float:
        """Share of the grid rows holding several table rows: two or more of its cells stack short
        values (one word a line) on two or more lines, each of which runs on through other cells.

        Values stacked in lockstep across a row's cells are table rows the grid failed to separate (an
        "OTSL / HTML" pair of rows read as one), and reading them cell by cell moves each value away from
        its row. Text wrapping in neighbouring cells also runs in lockstep, but its lines hold several
        words; a header row whose labels all wrap onto a unit line is one row among many, hence a share.
        """
        by_row: dict[int, list[tuple[set[int], bool]]] = {}
        for cell, lines, members in self._cells():
            if cell.rowspan == 1:
                values = len(members) == len(lines) and all(_is_value(m.text) for _, m in members)
                by_row.setdefault(cell.row, []).append((lines, values))
        stacked = 0
        for cells in by_row.values():
            lockstep = 0
            for k, (lines, values) in enumerate(cells):
                others = set().union(*(other for j, (other, _) in enumerate(cells) if j != k))
                lockstep += values and len(lines) >= 2 and lines <= others
            stacked += lockstep >= 2
        return stacked / max(len(by_row), 1)

    def misaligned_rows(self) -> float:
        """Share of the grid rows of one-line cells whose cells are not printed on one line.

        Cells of a table row share a line (a cell spanning rows, or one of several lines, may be centred
        on the others instead: those are left out). Lines of notes written side by side at their own
        heights, paired into rows by a grid, sit on different lines: pairing them mixes unrelated text.
        """
        by_row: dict[int, list[set[int]]] = {}
        for cell, lines, _ in self._cells():
            if cell.rowspan == 1:
                by_row.setdefault(cell.row, []).append(lines)
        eligible = [cells for cells in by_row.values() if len(cells) >= 2 and all(len(c) == 1 for c in cells)]
        if not eligible:
            return 0.0
        return sum(1 for cells in eligible if len(set().union(*cells)) > 1) / len(eligible)

    def text_columns(self) -> list[int]:
        """The grid columns that are columns of running text read one line per row: most of their cells
        hold one printed line of several words filling the column's width.

        Newspaper or magazine columns set on one line pitch look like a table whose every row is a
        line; reading them row by row runs across the columns. Table cells with text are short or wrap
        (several lines per cell), and a table seldom has two columns of full sentences.
        """
        by_col: dict[int, list[tuple[bool, float, int]]] = {}
        for cell, lines, members in self._cells():
            if cell.colspan != 1 or cell.rowspan != 1:
                continue
            width = max(m.bbox.x1 for _, m in members) - min(m.bbox.x0 for _, m in members)
            by_col.setdefault(cell.col, []).append((len(lines) == 1 and is_running_text(cell.text), width, 0))
        found: list[int] = []
        for col, cells in by_col.items():
            widest = max(width for _, width, _ in cells)
            running = sum(1 for prose, width, _ in cells if prose and width >= _FULL_LINE * widest)
            if len(cells) >= _WRAP and running >= _TEXT_COLUMN * len(cells):
                found.append(col)
        return found


def text_columns(structure: TableStructure) -> list[int]:
    """The grid's columns of running text read one line per row (see :meth:`_PrintedLines.text_columns`)."""
    return _PrintedLines(structure).text_columns()


def is_running_text(text: str) -> bool:
    """Words of a sentence: three or more words with letters in them (not "68.3 ± 19.7"), or a run
    of CJK characters three times as long."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    words = sum(1 for token in text.split() if any(ch.isalpha() for ch in token))
    return words >= _SENTENCE_WORDS or cjk >= 3 * _SENTENCE_WORDS


def _is_value(text: str) -> bool:
    """One short word: a number, a code, a unit."""
    return len(text.split()) == 1 and len(text) <= _VALUE_CHARS


def rejection(shape: GridShape, limits: TableCheckSettings, *, ruled: bool) -> str | None:
    """Why the grid is not a table, or None when it is one. ``ruled``: the image draws a grid, which is
    evidence enough of columns where the rows alone are too ragged to show them."""
    if shape.missing or shape.extra:
        return f"words_changed(missing={shape.missing},extra={shape.extra})"
    if shape.rows < limits.min_rows or shape.cols < limits.min_cols:
        return f"too_small({shape.rows}x{shape.cols})"
    if shape.cell_share > limits.max_cell_share:
        return f"one_cell_holds_most_text({shape.cell_share:.2f})"
    if shape.median_cell_chars > limits.max_median_cell_chars:
        return f"prose_cells(median={shape.median_cell_chars:.0f})"
    if shape.tangled_lines > limits.max_tangled_lines:
        return f"cells_interleave_lines({shape.tangled_lines:.2f})"
    if shape.tall_share > limits.max_tall_share:
        return f"cells_hold_blocks_of_lines({shape.tall_share:.2f})"
    if shape.split_cells > limits.max_split_cells:
        return f"cells_merge_columns({shape.split_cells:.2f})"
    if shape.stacked_rows > limits.max_stacked_rows:
        return f"rows_stacked_in_cells({shape.stacked_rows:.2f})"
    if shape.text_columns >= 2:
        return f"columns_of_running_text({shape.text_columns})"
    if shape.misaligned_rows > limits.max_misaligned_rows:
        return f"cells_off_their_rows({shape.misaligned_rows:.2f})"
    if not ruled and shape.aligned_rows < limits.min_aligned_rows:
        return f"ragged_rows({shape.aligned_rows:.2f})"
    return None


def is_ruled(image: Image.Image) -> bool:
    """Whether the image draws a grid: at least two long vertical rules and three long horizontal ones
    (half the image's height and width). Receipts draw dashed separators across, never down."""
    grey = np.asarray(image.convert("L"))
    if grey.size == 0:
        return False
    ink = grey < 128
    return _long_rules(ink) >= 3 and _long_rules(ink.T) >= 2


def _long_rules(ink: np.ndarray) -> int:
    """Number of separate horizontal rules in ``ink`` at least half as long as it is wide, each counted
    once however many pixels thick it is drawn."""
    width = ink.shape[1]
    longest = np.zeros(ink.shape[0], dtype=np.int64)
    run = np.zeros(ink.shape[0], dtype=np.int64)
    for column in ink.T:
        run = np.where(column, run + 1, 0)
        np.maximum(longest, run, out=longest)
    hits = longest >= 0.5 * width
    return int(np.count_nonzero(hits[1:] & ~hits[:-1]) + int(hits[0])) if hits.size else 0
