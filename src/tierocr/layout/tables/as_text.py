"""A region refused as a table, read as the lines it is printed on.

The refused "tables" are receipts, forms, lists, notes and page sections that a detector boxed whole.
The text path's reading order (columns of running text one after the other, anything else row by row)
reads most of them right, with two corrections:

- it takes a two-column list whose second column is long (a primer name and its sequence on every
  line) for two columns of prose and reads one column after the other, which tears every row apart.
  Lines of such a list sit on the same baselines across the columns, line for line, and hold one word
  each; so paired columns that are not running text are read row by row.
- it finds no columns where a gutter is narrow or OCR ran lines across it (a newspaper section), and
  then reads across the columns. A structure backend often still finds those columns (from the column
  rules or the gaps) as cells of running text, blocks of lines or one line per row; when a refused
  grid has two or more such columns, they are read one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from tierocr.layout.reading_order import Line, Section, median_height, order_lines
from tierocr.layout.region_geometry import join_region_lines, region_rows
from tierocr.layout.tables.grid import TableStructure, Word, join_words
from tierocr.layout.tables.plausibility import is_running_text, text_columns

#: Lines of two columns are on the same baseline when their centres are this close (share of height).
_SAME_LINE = 0.2
#: Columns whose lines pair up this often are a list's or a table's columns, read row by row.
_PAIRED = 0.6
#: A block of running text: at least this many lines, the median one this full (share of the longest).
_BLOCK_LINES = 4
_BLOCK_FILL = 0.8
#: A grid is columns of running text when its blocks hold this share of its characters.
_BLOCK_SHARE = 0.6


def refused_region_text(words: Sequence[Word], width: float, refused: Sequence[TableStructure]) -> str:
    """The text of a region whose grids were all refused: when a grid found columns of running text
    (blocks of lines, or one line per row), its columns read one after the other; else
    :func:`printed_lines`."""
    for structure in refused:
        blocks = _running_text_blocks(structure)
        if blocks is not None:
            return "\n".join(blocks)
        if len(text_columns(structure)) >= 2:
            return "\n".join(_column_after_column(structure))
    return printed_lines(words, width)


def _column_after_column(structure: TableStructure) -> list[str]:
    """The cells' texts column by column, top to bottom; a cell spanning columns is read in its first."""
    cells = sorted((c for c in structure.cells if c.words), key=lambda c: (c.col, c.row))
    return [join_words(cell.words) for cell in cells]


def _running_text_blocks(structure: TableStructure) -> list[str] | None:
    """The cells' texts in grid order when the grid is columns of running text, else None."""
    cells = sorted((c for c in structure.cells if c.words), key=lambda c: (c.row, c.col))
    total = sum(len(c.text) for c in cells)
    block_cols: set[int] = set()
    in_blocks = 0
    for cell in cells:
        rows = region_rows([Line(text=w.text, bbox=w.bbox) for w in cell.words])
        widths = sorted(max(ln.bbox.x1 for ln in row) - min(ln.bbox.x0 for ln in row) for row in rows)
        if len(rows) >= _BLOCK_LINES and widths[len(widths) // 2] >= _BLOCK_FILL * widths[-1]:
            block_cols.add(cell.col)
            in_blocks += len(cell.text)
    if len(block_cols) < 2 or in_blocks < _BLOCK_SHARE * max(total, 1):
        return None
    return [join_words(cell.words) for cell in cells]


def printed_lines(words: Sequence[Word], width: float) -> str:
    """The words as text lines in reading order, one printed line (or a column's line) per text line."""
    lines = [Line(text=w.text, bbox=w.bbox) for w in words]
    if not lines:
        return ""
    sections = order_lines(lines, width)
    columns = [s for s in sections if s.columnar]
    if len(columns) < 2 or (_paired(columns) >= _PAIRED and not _running_text(columns)):
        groups = [region_rows(lines)]
    else:
        groups = [s.rows or region_rows(s.lines) for s in sections]
    return "\n".join(join_region_lines(row) for rows in groups for row in rows)


def _running_text(columns: Sequence[Section]) -> bool:
    """Whether some column reads as running text: most of its lines are several words (or CJK)."""
    return any(
        sum(1 for line in column.lines if is_running_text(line.text)) >= 0.5 * len(column.lines)
        for column in columns
    )


def _paired(columns: Sequence[Section]) -> float:
    """Share of the columns' lines printed on the same line as a line of another column."""
    height = median_height([line for column in columns for line in column.lines])
    centres = [[(ln.bbox.y0 + ln.bbox.y1) / 2 for ln in column.lines] for column in columns]
    paired = total = 0
    for k, own in enumerate(centres):
        others = [y for j, column in enumerate(centres) if j != k for y in column]
        total += len(own)
        paired += sum(1 for y in own if any(abs(y - other) <= _SAME_LINE * height for other in others))
    return paired / max(total, 1)
