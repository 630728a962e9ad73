"""Reading order and block grouping without a layout model."""

from __future__ import annotations

from tierocr.document import BBox, BlockKind, Provenance, Tier
from tierocr.layout.blocks import join_lines, lines_to_blocks
from tierocr.layout.reading_order import Line, order_lines

PROV = Provenance(tier=Tier.OCR, engine="test")
W, H = 1700.0, 2200.0


def _line(text: str, x0: float, y0: float, x1: float, h: float = 30.0) -> Line:
    return Line(text=text, bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y0 + h))


def _two_column_page() -> list[Line]:
    lines = [_line("A Title Across Both Columns", 200, 150, 1500, h=60)]
    for i in range(8):
        y = 300 + i * 40
        lines.append(_line(f"left column line {i} with running text to fill", 150, y, 820))
        lines.append(_line(f"right column line {i} with running text to fill", 880, y, 1550))
    lines.append(
        _line("A full-width closing paragraph that spans the page below both columns.", 150, 700, 1550)
    )
    return lines


def test_two_columns_read_column_by_column() -> None:
    sections = order_lines(_two_column_page(), W)
    texts = [ln.text for s in sections for ln in s.lines]
    assert texts[0].startswith("A Title")
    left = [i for i, t in enumerate(texts) if t.startswith("left")]
    right = [i for i, t in enumerate(texts) if t.startswith("right")]
    assert max(left) < min(right), "the whole left column comes before the right one"
    assert texts[-1].startswith("A full-width closing")


def test_table_rows_are_read_row_by_row() -> None:
    lines = []
    for r in range(5):
        y = 300 + r * 45
        for c, x in enumerate((150, 500, 850, 1200)):
            lines.append(_line(f"r{r}c{c}", x, y, x + 90))
    texts = [ln.text for s in order_lines(lines, W) for ln in s.lines]
    assert texts[:4] == ["r0c0", "r0c1", "r0c2", "r0c3"]


def test_blocks_headings_paragraphs_and_furniture() -> None:
    lines = [
        _line("Journal of Examples, vol. 3", 150, 40, 700, h=25),
        _line("Introduction", 150, 300, 600, h=55),
        _line("The first paragraph starts here and it runs on to a hyph-", 150, 400, 1550),
        _line("enated word on the next line.", 150, 440, 1000),
        _line("A second paragraph after a clear gap between them two.", 150, 540, 1550),
        _line("• a bulleted item", 150, 640, 800),
        _line("- 7 -", 820, 2120, 880, h=25),
    ]
    blocks = lines_to_blocks(lines, W, H, PROV)
    kinds = [b.kind for b in blocks]
    assert kinds[0] is BlockKind.HEADER
    heading = next(b for b in blocks if b.kind is BlockKind.HEADING)
    assert heading.text == "Introduction" and heading.level is not None
    paragraphs = [b for b in blocks if b.kind is BlockKind.TEXT]
    assert paragraphs[0].text.endswith("hyphenated word on the next line.")
    assert len(paragraphs) == 2
    assert any(b.kind is BlockKind.LIST_ITEM for b in blocks)
    assert blocks[-1].kind is BlockKind.PAGE_NUMBER


def test_join_lines_handles_cjk_and_hyphens() -> None:
    assert join_lines(["中文的", "句子"]) == "中文的句子"
    assert join_lines(["exam-", "ple text"]) == "example text"
    assert join_lines(["Well-", "Known"]) == "Well- Known"
    assert join_lines(["one", "two"]) == "one two"


def _prose(x: float, y: float, rows: int, tag: str, height: float = 20) -> list[Line]:
    text = f"running text of the {tag} column that fills its measure with words"
    return [
        Line(
            text=f"{text} {k}",
            bbox=BBox(x0=x, y0=y + 1.5 * height * k, x1=x + 380, y1=y + 1.5 * height * k + height),
        )
        for k in range(rows)
    ]


def test_footnotes_at_the_foot_of_a_column_are_read_after_both_columns() -> None:
    left, right = _prose(100, 200, 14, "left"), _prose(520, 200, 20, "right")
    notes = [
        Line(text="1 A note in small type under the left column.", bbox=BBox(x0=100, y0=760, x1=400, y1=774)),
        Line(text="2 Another note, also small, also there.", bbox=BBox(x0=100, y0=780, x1=380, y1=794)),
    ]
    blocks = lines_to_blocks([*left, *right, *notes], 1000, 900, PROV)
    assert [b.text[:6] for b in blocks] == ["runnin", "runnin", "1 A no", "2 Anot"]
    assert "right" in blocks[1].text
    assert [b.kind for b in blocks[2:]] == [BlockKind.FOOTNOTE, BlockKind.FOOTNOTE]
    # The same small lines with running text below them are not footnotes.
    below = _prose(100, 810, 3, "lower")
    kinds = [b.kind for b in lines_to_blocks([*left, *right, *notes, *below], 1000, 1000, PROV)]
    assert BlockKind.FOOTNOTE not in kinds


def test_a_list_of_names_and_long_codes_is_read_row_by_row_not_as_two_text_columns() -> None:
    lines = []
    for k in range(12):
        y = 100 + 40 * k
        lines.append(Line(text=f"GAPDH-F{k}", bbox=BBox(x0=80, y0=y, x1=220, y1=y + 24)))
        code = "ACGT" * 5 + "ACG"[: k % 3]
        lines.append(Line(text=code, bbox=BBox(x0=420, y0=y, x1=760 + 10 * (k % 3), y1=y + 24)))
    sections = order_lines(lines, 1000)
    read = [line.text for section in sections for line in section.lines]
    assert read[:4] == ["GAPDH-F0", "ACGTACGTACGTACGTACGT", "GAPDH-F1", "ACGTACGTACGTACGTACGTA"]


def test_cjk_columns_a_narrow_gutter_apart_are_read_one_after_the_other() -> None:
    text = "这是一段连续的中文正文用于测试分栏阅读顺序"  # 21 characters: a full line of running text
    lines = []
    for k in range(12):
        y = 100 + 16 * k
        lines.append(Line(text=f"左{k}{text}", bbox=BBox(x0=100, y0=y, x1=265, y1=y + 13)))
        lines.append(Line(text=f"右{k}{text}", bbox=BBox(x0=271, y0=y, x1=436, y1=y + 13)))  # 6 px apart
    read = [line.text[:2] for section in order_lines(lines, 992) for line in section.lines]
    assert read[:3] == ["左0", "左1", "左2"] and read[12] == "右0"


def test_a_page_number_beside_a_column_does_not_turn_two_columns_into_a_table() -> None:
    left, right = _prose(100, 200, 12, "left"), _prose(520, 200, 12, "right")
    margin_number = Line(text="17", bbox=BBox(x0=20, y0=500, x1=40, y1=520))  # a sliver in the margin
    sections = order_lines([*left, *right, margin_number], 1000)
    read = [line.text.split()[4] for section in sections for line in section.lines if "column" in line.text]
    assert read == ["left"] * 12 + ["right"] * 12
