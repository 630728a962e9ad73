"""Structure doubt: table blocks whose rebuilt grid is not what a table looks like.

A table builder given a receipt, a form or a list of notes still returns a grid; it is then wrong in
recognisable ways: one cell holds most of the text, rows have different numbers of filled cells, most
cells are empty, or the "table" has a single row or column. Each table gets a doubt in 0..1 (the largest
of those symptoms), the page the largest doubt of its tables, and doubtful tables become regions to
re-read. A table without any structure (no HTML) is the threshold gate's ``table_without_html``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from tierocr.document import Block, BlockKind, Page

#: Cell separator of a table block's text (one line per row), as the layout's table builder writes it.
_CELL_SEPARATOR = " | "


@dataclass(slots=True)
class TableDoubt:
    """Symptoms of one table's grid, each in 0..1 (1: certainly not a real grid)."""

    rows: int
    cols: int
    dominant_cell: float
    ragged: float
    empty: float
    degenerate: float

    @property
    def doubt(self) -> float:
        return max(self.dominant_cell, self.ragged, self.empty, self.degenerate)


@dataclass(slots=True)
class StructureStats:
    tables: int = 0
    #: Largest doubt of the page's tables (None: no table with a grid).
    doubt: float | None = None
    #: Share of the page's characters that sit in tables.
    table_char_share: float = 0.0
    per_block: dict[int, float] = field(default_factory=dict)


def table_cells(block: Block) -> list[list[str]]:
    """The grid as rows of cell texts, from the block's text (one line per row)."""
    return [[cell.strip() for cell in line.split(_CELL_SEPARATOR)] for line in block.text.splitlines()]


def table_doubt(block: Block) -> TableDoubt:
    every = table_cells(block)
    grid = [row for row in every if any(row)]
    rows = len(grid)
    cols = max((len(r) for r in grid), default=0)
    cells = [c for row in every for c in row]  # empty rows are empty cells of the grid
    chars = [len(c) for c in cells]
    total = sum(chars)
    # One cell holding most of the text of a grid that has several cells: a paragraph in a cell.
    dominant = max(chars) / total if total and len(cells) >= 4 else 0.0
    dominant = max(0.0, (dominant - 0.25) / 0.5)
    filled = [sum(1 for c in row if c) for row in grid]
    ragged = 0.0
    if rows >= 2:
        mode = statistics.mode(filled)
        ragged = sum(1 for f in filled if f != mode) / rows
    empty = sum(1 for c in cells if not c) / len(cells) if cells else 1.0
    empty = max(0.0, (empty - 0.3) / 0.5)
    degenerate = 1.0 if rows < 2 or cols < 2 else 0.5 if rows < 3 and cols < 3 else 0.0
    return TableDoubt(
        rows=rows,
        cols=cols,
        dominant_cell=round(min(1.0, dominant), 4),
        ragged=round(ragged, 4),
        empty=round(min(1.0, empty), 4),
        degenerate=degenerate,
    )


def structure_stats(page: Page) -> StructureStats:
    out = StructureStats()
    page_chars = sum(len(b.text.strip()) for b in page.blocks) or 1
    table_chars = 0
    for index, block in enumerate(page.blocks):
        if block.kind is not BlockKind.TABLE:
            continue
        out.tables += 1
        table_chars += len(block.text.strip())
        if block.html is None or not block.text.strip():
            continue
        doubt = table_doubt(block).doubt
        out.per_block[index] = round(doubt, 4)
        out.doubt = doubt if out.doubt is None else max(out.doubt, doubt)
    out.table_char_share = round(table_chars / page_chars, 4)
    return out
