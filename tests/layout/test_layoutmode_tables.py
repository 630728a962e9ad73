from __future__ import annotations

import pytest
from layoutmode_helpers import box, font
from PIL import Image, ImageDraw

from tierocr.layout.tables import recognize_table, table_candidates
from tierocr.layout.tables.grid import TableStructure, Word, structure_from_cell_boxes
from tierocr.layout.tables.image import img2table_structure, word_grid_structure


def _merged_table() -> tuple[Image.Image, list[Word]]:
    """A 4x3 ruled table: the header's right two cells merged ("Scores", colspan 2) and the first column
    of rows 1-2 merged ("Group A", rowspan 2)."""
    image = Image.new("RGB", (700, 330), "white")
    draw = ImageDraw.Draw(image)
    xs, ys = [20, 260, 470, 680], [20, 95, 170, 245, 310]
    black = "black"
    for y in (ys[0], ys[1], ys[3], ys[4]):
        draw.line((xs[0], y, xs[3], y), fill=black, width=2)
    draw.line((xs[1], ys[2], xs[3], ys[2]), fill=black, width=2)  # row 1|2 split except under "Group A"
    for x in (xs[0], xs[1], xs[3]):
        draw.line((x, ys[0], x, ys[4]), fill=black, width=2)
    draw.line((xs[2], ys[1], xs[2], ys[4]), fill=black, width=2)  # no split inside the header's "Scores"
    cells = {
        "Name": (0, 0), "Scores": (1, 0), "Group A": (0, 1), "12": (1, 1), "34": (2, 1),
        "56": (1, 2), "78": (2, 2), "Group B": (0, 3), "90": (1, 3), "11": (2, 3),
    }  # fmt: skip
    words: list[Word] = []
    face = font(24)
    for text, (c, r) in cells.items():
        x0 = xs[c] + 15
        y0 = ys[r] + 15 if text != "Group A" else (ys[1] + ys[3]) // 2 - 12
        if text == "Scores":
            x0 = (xs[1] + xs[3]) // 2 - 40
        draw.text((x0, y0), text, fill=black, font=face)
        width = draw.textlength(text, font=face)
        words.append(Word(text=text, bbox=box(x0, y0, x0 + width, y0 + 26)))
    return image, words


def _cell(structure: TableStructure, text: str):
    return next(c for c in structure.cells if c.text == text)


def test_img2table_reads_a_ruled_table_with_rowspan_and_colspan() -> None:
    pytest.importorskip("img2table")
    image, words = _merged_table()
    structure = img2table_structure(image, words)
    assert structure is not None
    assert (structure.n_rows, structure.n_cols) == (4, 3)
    assert (_cell(structure, "Group A").row, _cell(structure, "Group A").rowspan) == (1, 2)
    assert (_cell(structure, "Scores").col, _cell(structure, "Scores").colspan) == (1, 2)
    assert structure.text_rows[2] == ["Group A", "56", "78"]
    html = structure.to_html()
    assert '<td rowspan="2">Group A</td>' in html
    assert '<td colspan="2">Scores</td>' in html
    assert html.count("<tr>") == 4


def test_word_grid_reads_a_borderless_table_from_word_alignment() -> None:
    def w(text: str, x0: float, y0: float, x1: float) -> Word:
        return Word(text, box(x0, y0, x1, y0 + 20))

    words = [
        w("Total", 300, 0, 500),  # spans both value columns
        w("Item", 0, 40, 60), w("2023", 300, 40, 360), w("2024", 440, 40, 500),
        w("Apples", 0, 80, 90), w("10", 320, 80, 350), w("12", 460, 80, 490),
        w("Pears", 0, 120, 80), w("7", 330, 120, 345), w("9", 470, 120, 485),
    ]  # fmt: skip
    structure = word_grid_structure(words, 520, 150)
    assert structure is not None
    assert (structure.n_rows, structure.n_cols) == (4, 3)
    assert structure.text_rows[2] == ["Apples", "10", "12"]
    total = _cell(structure, "Total")
    assert (total.col, total.colspan) == (1, 2)


def test_cell_boxes_give_spans_and_html_escapes_text() -> None:
    boxes = [box(0, 0, 100, 20), box(100, 0, 200, 20), box(0, 20, 200, 40)]
    structure = structure_from_cell_boxes(boxes, tolerance=2, backend="test")
    assert structure is not None and (structure.n_rows, structure.n_cols) == (2, 2)
    filled = structure.with_text([Word("a<b", box(10, 25, 40, 35))])
    assert '<td colspan="2">a&lt;b</td>' in filled.to_html()


def test_auto_offers_the_word_grid_last_when_there_are_no_rules() -> None:
    pytest.importorskip("img2table")
    blank = Image.new("RGB", (300, 100), "white")
    words = [Word("a", box(0, 0, 20, 20)), Word("b", box(200, 0, 220, 20)), Word("c", box(0, 50, 20, 70))]
    candidates = list(table_candidates(blank, words, backend="auto"))
    assert [c.backend for c in candidates][-1] == "word_grid"
    assert "img2table" not in [c.backend for c in candidates]  # no rules, no img2table grid
    assert candidates[-1].text_rows == [["a", "b"], ["c", ""]]
    assert recognize_table(blank, words, backend="word_grid").text_rows == [["a", "b"], ["c", ""]]
