"""Text regions that hold a grid of figures become tables, with the text regions drawn inside them.

A detector trained on papers knows tables by their rules; a financial statement's table has none. It
draws a "text" or "reference" box around the figures and another one around the row labels, so the
page reads as a paragraph of numbers beside a paragraph of labels, and each row's label is cut off from
its figures. What the words say is plainer: several rows that each carry two or more figures, set in
columns whose right edges line up from row to row, is a table, whatever the detector called it.

Only a born-digital page's words are judged (their boxes are exact; an OCR line holds a whole row). The
region then goes through the table builders and their plausibility check like any detected table; a
grid they refuse is read as its rows, in order, which still keeps each label beside its figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tierocr.document import BBox
from tierocr.layout.detector import Region
from tierocr.layout.reading_order import Line
from tierocr.layout.region_geometry import overlap_share, region_rows, region_segments
from tierocr.layout.tables.plausibility import CURRENCY_SIGN
from tierocr.layout.tasks import Task, TaskMap

#: A cell that is a figure: an amount, a count, a percentage, a negative in parentheses.
FIGURE = re.compile(r"^[(\-–−]?\s*[$€£¥]?\s*\(?\d[\d,.\s]*\)?\s*%?\)?$")
#: Rows with two or more figures a grid needs, and columns of figures lined up over that many rows.
_MIN_ROWS = 3
_MIN_COLUMNS = 2
#: Share of the region's rows that must carry figures: a paragraph with a small table under it is not one.
_MIN_FIGURE_ROWS = 0.4
#: Share of a region that must lie inside the grid's region to be taken into it.
_NESTED = 0.8
#: Words a region of column headings above the grid holds at most.
_HEADING_WORDS = 12


def figure_grid_regions(
    regions: Sequence[Region], lines: Sequence[Line], owners: Sequence[int | None], tasks: TaskMap
) -> list[Region]:
    """The regions with each text region that holds a grid of figures relabelled as a table, grown over
    (and replacing) the text regions lying inside it. ``lines`` are a born-digital page's words and
    ``owners`` each one's region index."""
    table_labels = tasks.labels_for(Task.TABLE)
    if not table_labels:
        return list(regions)
    owned: dict[int, list[Line]] = {}
    for line, owner in zip(lines, owners, strict=True):
        if owner is not None:
            owned.setdefault(owner, []).append(line)
    out: list[Region | None] = list(regions)
    for k, region in enumerate(regions):
        if out[k] is None or tasks.task_for(region.label) is not Task.TEXT:
            continue
        nested = [
            j
            for j, other in enumerate(regions)
            if j != k
            and out[j] is not None
            and tasks.task_for(other.label) is Task.TEXT
            and overlap_share(other.bbox, region.bbox) >= _NESTED
        ]
        words = [w for j in (k, *nested) for w in owned.get(j, [])]
        if not is_figure_grid(words):
            continue
        box = region.bbox
        for j in nested:
            box = box.union(regions[j].bbox)
            out[j] = None
        row = sorted(w.bbox.height for w in words)[len(words) // 2]
        centres = [(r[0].bbox.y0 + r[0].bbox.y1) / 2 for r in region_rows(words)]
        for j, other in enumerate(regions):
            b = other.bbox
            if out[j] is None or j == k or tasks.task_for(other.label) is not Task.TEXT:
                continue
            # Column headings ("Year Ended", the dates) stand just above the figures, often in a box
            # of their own: a short text region within the grid's width, less than two rows above it.
            heading = (
                b.x0 >= box.x0 - row
                and b.x1 <= box.x1 + row
                and 0 <= box.y0 - b.y1 < 2 * row
                and len(owned.get(j, [])) <= _HEADING_WORDS
            )
            # Row labels boxed apart, left of the figures, their words on the figures' rows.
            labels = (
                b.x1 <= box.x0 + row
                and b.y0 >= box.y0 - row
                and b.y1 <= box.y1 + row
                and _on_rows(owned.get(j, []), centres, row)
            )
            if heading or labels:
                box = box.union(b)
                out[j] = None
        out[k] = Region(table_labels[0], region.score, box, region.order)
    return [r for r in out if r is not None]


def _on_rows(words: Sequence[Line], centres: Sequence[float], row: float) -> bool:
    """Whether most of the words sit on one of the rows whose vertical centres are given."""
    if not words:
        return False
    on = sum(1 for w in words if any(abs((w.bbox.y0 + w.bbox.y1) / 2 - c) <= 0.6 * row for c in centres))
    return on >= 0.8 * len(words)


def is_figure_grid(words: Sequence[Line]) -> bool:
    """Whether the words form rows of figures in columns: at least :data:`_MIN_ROWS` rows with two or
    more figure cells, whose right edges fall into at least :data:`_MIN_COLUMNS` columns that each run
    through :data:`_MIN_ROWS` of those rows."""
    if len(words) < _MIN_ROWS * 2:
        return False
    cells = [s for s in region_segments(words) if not CURRENCY_SIGN.match(s.text.strip())]
    rows = region_rows(cells)
    figure_rows = [[c for c in row if FIGURE.match(c.text.strip())] for row in rows]
    figure_rows = [row for row in figure_rows if len(row) >= 2]
    if len(figure_rows) < _MIN_ROWS or len(figure_rows) < _MIN_FIGURE_ROWS * len(rows):
        return False
    height = sorted(c.bbox.height for row in figure_rows for c in row)[
        sum(len(row) for row in figure_rows) // 2
    ]
    return len(_columns([[c.bbox for c in row] for row in figure_rows], 1.5 * height)) >= _MIN_COLUMNS


def _columns(rows: list[list[BBox]], tolerance: float) -> list[set[int]]:
    """Right edges clustered within ``tolerance``: for each column that runs through enough rows, the
    rows it runs through."""
    edges = sorted((box.x1, r) for r, row in enumerate(rows) for box in row)
    clusters: list[tuple[float, set[int]]] = []
    for x, r in edges:
        if clusters and x - clusters[-1][0] <= tolerance:
            clusters[-1][1].add(r)
            clusters[-1] = (x, clusters[-1][1])
        else:
            clusters.append((x, {r}))
    return [members for _, members in clusters if len(members) >= _MIN_ROWS]
