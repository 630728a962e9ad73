from __future__ import annotations

from pathlib import Path

import pytest

from tierocr.document import BBox
from tierocr.layout.tables import PdfPageRef, recognize_table
from tierocr.layout.tables.pdf import page_words, pdf_table_structure, pdf_words

pytest.importorskip("pdfplumber")
reportlab = pytest.importorskip("reportlab", reason="reportlab builds the born-digital PDF")

DPI = 144.0  # 2 pixels per point


def _born_digital_table(path: Path) -> None:
    """A ruled 4x3 table drawn with vector lines; row 0's last two cells and column 0's rows 1-2 merged."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    data = [
        ["Name", "Scores", ""],
        ["Group A", "12", "34"],
        ["", "56", "78"],
        ["Group B", "90", "11"],
    ]
    table = Table(data, colWidths=[120, 90, 90], rowHeights=24)
    table.setStyle(
        TableStyle(
            [("GRID", (0, 0), (-1, -1), 1, "black"), ("SPAN", (1, 0), (2, 0)), ("SPAN", (0, 1), (0, 2))]
        )
    )
    SimpleDocTemplate(str(path), pagesize=A4).build([table])


def test_pdfplumber_reads_vector_grid_with_spans(tmp_path: Path) -> None:
    pdf = tmp_path / "table.pdf"
    _born_digital_table(pdf)
    page = PdfPageRef(path=pdf, index=0)
    whole_page = BBox(x0=0, y0=0, x1=595 * DPI / 72, y1=842 * DPI / 72)

    structure = pdf_table_structure(page, whole_page, DPI)

    assert structure is not None and structure.backend == "pdfplumber"
    assert (structure.n_rows, structure.n_cols) == (4, 3)
    group_a = next(c for c in structure.cells if c.text == "Group A")
    scores = next(c for c in structure.cells if c.text == "Scores")
    assert (group_a.row, group_a.col, group_a.rowspan) == (1, 0, 2)
    assert (scores.row, scores.col, scores.colspan) == (0, 1, 2)
    assert structure.text_rows[3] == ["Group B", "90", "11"]
    # Cells come back in page pixels at the DPI: the table is 300 pt wide.
    left = min(c.bbox.x0 for c in structure.cells)
    right = max(c.bbox.x1 for c in structure.cells)
    assert right - left == pytest.approx(300 * DPI / 72, abs=2)

    words = pdf_words(page, whole_page, DPI)
    assert {"Name", "Scores", "Group", "A", "90"} <= {w.text for w in words}
    everything = page_words(page, DPI)
    assert sorted(w.text for w in everything) == sorted(w.text for w in words)
    name = next(w for w in everything if w.text == "Name")
    assert name.bbox.x0 == pytest.approx(left + 6 * DPI / 72, abs=4)  # reportlab's 6 pt cell padding


def test_recognize_table_prefers_the_pdf_grid_and_shifts_it_into_the_crop(tmp_path: Path) -> None:
    import pypdfium2

    pdf = tmp_path / "table.pdf"
    _born_digital_table(pdf)
    structure = pdf_table_structure(PdfPageRef(pdf, 0), BBox(x0=0, y0=0, x1=1190, y1=1684), DPI)
    assert structure is not None
    top = min(c.bbox.y0 for c in structure.cells)
    region = BBox(x0=100, y0=top - 10, x1=1000, y1=top + 300)
    # The rendered crop shows a fully ruled grid, so the PDF's own lines are read before any model.
    page = pypdfium2.PdfDocument(str(pdf))[0].render(scale=DPI / 72).to_pil()
    crop = page.crop((int(region.x0), int(region.y0), int(region.x1), int(region.y1)))
    found = recognize_table(crop, [], pdf_page=PdfPageRef(pdf, 0), region=region, dpi=DPI)
    assert found is not None and found.backend == "pdfplumber"
    assert min(c.bbox.y0 for c in found.cells) == pytest.approx(10, abs=1)


def test_a_page_without_vector_lines_gives_no_pdf_table(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = tmp_path / "plain.pdf"
    c = canvas.Canvas(str(pdf))
    c.drawString(72, 720, "Just a sentence, no table here.")
    c.save()
    assert pdf_table_structure(PdfPageRef(pdf, 0), BBox(x0=0, y0=0, x1=1190, y1=1684), DPI) is None
