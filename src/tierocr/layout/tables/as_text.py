"""A region refused as a table, read as the lines it is printed on.

The refused "tables" are receipts, forms, lists, notes and page sections that a detector boxed whole.
The text path's reading order (columns of running text one after the other, anything else row by row)
reads most of them right, but it takes a two-column list whose second column is long (a primer name
and its sequence on every line) for two columns of prose and reads one column after the other, which
tears every row apart. Lines of such a list sit on the same baselines across the columns, line for
line; columns of prose side by side (a sidebar next to the body) only meet a line of the other column
now and then. So columns whose lines mostly pair up are read row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

from tierocr.layout.reading_order import Line, Section, median_height, order_lines
from tierocr.layout.region_geometry import join_region_lines, region_rows
from tierocr.layout.tables.grid import Word

#: Lines of two columns are on the same baseline when their centres are this close (share of height).
_SAME_LINE = 0.2
#: Columns whose lines pair up this often are a list's or a table's columns, read row by row.
_PAIRED = 0.6


def printed_lines(words: Sequence[Word], width: float) -> str:
    """The words as text lines in reading order, one printed line (or a column's line) per text line."""
    lines = [Line(text=w.text, bbox=w.bbox) for w in words]
    if not lines:
        return ""
    sections = order_lines(lines, width)
    columns = [s for s in sections if s.columnar]
    if len(columns) < 2 or _paired(columns) >= _PAIRED:
        groups = [region_rows(lines)]
    else:
        groups = [s.rows or region_rows(s.lines) for s in sections]
    return "\n".join(join_region_lines(row) for rows in groups for row in rows)


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
