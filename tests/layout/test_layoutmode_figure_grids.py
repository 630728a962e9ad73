"""A grid of figures the detector called text (a financial statement's borderless table) becomes a table."""

from __future__ import annotations

from pathlib import Path

import pytest
from layoutmode_helpers import ScriptedDetector, ScriptedEngine, box

from tierocr.config import Settings
from tierocr.document import BlockKind
from tierocr.layout.detector import Region
from tierocr.layout.figure_grids import figure_grid_regions, is_figure_grid
from tierocr.layout.reading_order import Line
from tierocr.layout.region_geometry import assign_owners
from tierocr.layout.tasks import TaskMap

pytest.importorskip("pdfplumber")
pytest.importorskip("reportlab", reason="reportlab builds the born-digital PDF")

LABELS = ["Cost of revenue", "Research and development", "Sales, general and administrative", "Total"]
FIGURES = [
    ["178", "141", "138"],
    ["3,423", "2,532", "1,892"],
    ["1,136", "876", "680"],
    ["4,737", "3,549", "2,710"],
]
COLUMNS = (520, 700, 880)  # right edges of the three figure columns, in pixels


def _word(text: str, x0: float, y: float, width_per_char: float = 9.0) -> Line:
    return Line(text=text, bbox=box(x0, y, x0 + width_per_char * len(text), y + 18))


def _statement_words(top: float = 200) -> list[Line]:
    """The words of a statement, one by one as a PDF gives them: labels left, "$" flush left of each
    figure column on the first and last rows, figures set right-aligned."""
    words = []
    for r, (label, figures) in enumerate(zip(LABELS, FIGURES, strict=True)):
        y = top + 30 * r
        x = 80.0
        for token in label.split():
            words.append(_word(token, x, y))
            x += 9.0 * len(token) + 9
        for right, figure in zip(COLUMNS, figures, strict=True):
            if r in (0, len(LABELS) - 1):
                words.append(_word("$", right - 120, y))
            words.append(_word(figure, right - 9.0 * len(figure), y))
    return words


def _prose_words(top: float = 200) -> list[Line]:
    """A paragraph that mentions figures in its sentences, set with ordinary word spaces."""
    text = (
        "Revenue for fiscal 2025 was 130,497 million, up 114 percent from 60,922 million a year ago, "
        "driven by 2,532 new customers and 1,892 renewals in 2024 and 2023 across 12 regions of 40 countries"
    )
    words, x, y = [], 80.0, top
    for token in text.split():
        if x + 9.0 * len(token) > 900:
            x, y = 80.0, y + 30
        words.append(_word(token, x, y))
        x += 9.0 * len(token) + 9
    return words


def _key_values(top: float = 200) -> list[Line]:
    """A list of labels with one figure each: a column of values, not a grid."""
    return [
        w
        for r, label in enumerate(LABELS)
        for w in (_word(label, 80, top + 30 * r), _word("1,234", 700, top + 30 * r))
    ]


def test_a_statement_is_a_grid_and_prose_or_a_list_of_values_is_not() -> None:
    assert is_figure_grid(_statement_words())
    assert not is_figure_grid(_prose_words())
    assert not is_figure_grid(_key_values())
    assert not is_figure_grid(_statement_words()[:12])  # one row of figures and a half: too few rows


def test_the_figures_box_takes_in_the_labels_box_inside_it_and_the_headings_above() -> None:
    tasks = TaskMap(Settings().layout)
    words = _statement_words()
    headings = [_word("Year", 620, 150), _word("Ended", 668, 150)]
    regions = [
        Region("text", 0.9, box(70, 190, 900, 330)),  # figures (and, by area, the labels' box)
        Region("text", 0.8, box(75, 195, 400, 325)),  # the labels, a box of their own inside it
        Region("text", 0.7, box(600, 145, 740, 172)),  # column headings just above
        Region("text", 0.9, box(70, 400, 900, 480)),  # an unrelated paragraph below
    ]
    lines = [*words, *headings]
    owners = assign_owners([ln.bbox for ln in lines], [r.bbox for r in regions])
    out = figure_grid_regions(regions, lines, owners, tasks)
    assert [r.label for r in out] == ["table", "text"]
    assert (out[0].bbox.x0, out[0].bbox.y0, out[0].bbox.x1, out[0].bbox.y1) == (70, 145, 900, 330)


def _statement_pdf(path: Path) -> None:
    """A born-digital page: a paragraph, then a borderless statement with "$" set flush left."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(72, 780, "Stock-based compensation expense is included in the following lines:")
    for right, heading in zip((330, 420, 510), ("Jan 26, 2025", "Jan 28, 2024", "Jan 29, 2023"), strict=True):
        pdf.drawRightString(right, 740, heading)
    for r, (label, figures) in enumerate(zip(LABELS, FIGURES, strict=True)):
        y = 720 - 16 * r
        pdf.drawString(72, y, label)
        for right, figure in zip((330, 420, 510), figures, strict=True):
            if r in (0, len(LABELS) - 1):
                pdf.drawString(right - 60, y, "$")
            pdf.drawRightString(right, y, figure)
    pdf.save()


def test_a_borderless_statement_the_detector_calls_text_is_read_as_a_table(tmp_path: Path) -> None:
    from tierocr.inputs import open_document
    from tierocr.layout.parser import LayoutParser
    from tierocr.layout.tables.pdf import PdfPageRef

    path = tmp_path / "statement.pdf"
    _statement_pdf(path)
    settings = Settings.model_validate({"layout": {"enabled": True}})
    loaded = open_document(path, settings.input)
    page_input = next(loaded.page_inputs([1]))
    scale = page_input.dpi / 72
    px = lambda x0, top, x1, bottom: box(x0 * scale, (842 - top) * scale, x1 * scale, (842 - bottom) * scale)  # noqa: E731
    regions = [
        Region("text", 0.9, px(66, 796, 520, 774)),  # the sentence
        Region("text", 0.8, px(66, 752, 520, 668)),  # the statement, headings and figures
        Region("text", 0.7, px(68, 732, 240, 668)),  # its labels, in a box of their own
    ]
    parser = LayoutParser(settings, ScriptedEngine([]), ScriptedDetector(regions))
    page = parser.parse_page(
        page_input.image,
        number=1,
        dpi=page_input.dpi,
        text_layer=page_input.text_layer,
        pdf_page=PdfPageRef(path, 0),
    )
    loaded.close()
    tables = [b for b in page.blocks if b.kind is BlockKind.TABLE]
    assert len(tables) == 1 and tables[0].html is not None
    rows = [line.split(" | ") for line in tables[0].text.splitlines()]
    # each label stays in the row of its own figures
    for label, figures in zip(LABELS, FIGURES, strict=True):
        row = next(r for r in rows if label in " ".join(r))
        assert all(any(f in cell for cell in row) for f in figures), (label, row)
