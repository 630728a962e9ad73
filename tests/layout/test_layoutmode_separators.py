"""Rules and boxes found from the pixels, and what they do to reading order (regions and lines)."""

from __future__ import annotations

import pytest
from layoutmode_helpers import box
from PIL import Image, ImageDraw

from tierocr.config import LayoutSettings
from tierocr.layout.detector import Region
from tierocr.layout.order import reading_order
from tierocr.layout.reading_order import Line, order_lines
from tierocr.layout.separators import Separators, find_separators
from tierocr.layout.tasks import TaskMap
from tierocr.samples.layouts import LAYOUTS
from tierocr.samples.synthetic import render_page, scan_of

TASKS = TaskMap(LayoutSettings())


@pytest.mark.parametrize("scanned", [False, True], ids=["clean", "scan"])
def test_a_zone_rule_and_an_inset_box_are_found_on_clean_and_scanned_pages(scanned: bool) -> None:
    newspaper = render_page(LAYOUTS["newspaper"]().pdf, dpi=150)
    inset = render_page(LAYOUTS["inset"]().pdf, dpi=150)
    if scanned:
        newspaper, inset = scan_of(newspaper), scan_of(inset)
    rules = find_separators(newspaper).rules
    assert len(rules) == 1
    assert rules[0].width > 0.75 * newspaper.width  # the rule under the top zone runs across the page
    boxes = find_separators(inset).boxes
    assert boxes and all(b.width < 0.5 * inset.width for b in boxes)  # the sidebar, inside its column


def test_running_text_makes_no_rules_or_boxes() -> None:
    page = render_page(LAYOUTS["columns3"]().pdf, dpi=150)
    assert find_separators(page) == Separators()
    assert find_separators(scan_of(page)) == Separators()


def test_a_ruled_frame_with_white_paper_is_a_box_and_not_two_rules() -> None:
    image = Image.new("RGB", (1200, 1600), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((600, 500, 1100, 900), outline="black", width=3)
    found = find_separators(image)
    assert found.rules == ()
    assert len(found.boxes) == 1
    assert found.boxes[0].x0 == pytest.approx(600, abs=8) and found.boxes[0].y1 == pytest.approx(903, abs=8)


def _zones() -> list[Region]:
    """A lead story over two of three columns, a story in the third, then a story across all three; the
    gap under the top zone is no wider than a paragraph gap, so only the rule tells the zones apart."""
    return [
        Region("title", 0.9, box(100, 100, 700, 150)),  # 0 lead headline over columns 1-2
        Region("text", 0.9, box(100, 170, 480, 700)),  # 1 lead, column 1
        Region("text", 0.9, box(520, 170, 900, 700)),  # 2 lead, column 2
        Region("title", 0.9, box(940, 100, 1300, 150)),  # 3 second headline, column 3
        Region("text", 0.9, box(940, 170, 1320, 700)),  # 4 second story
        Region("title", 0.9, box(100, 740, 600, 790)),  # 5 third headline, narrower than its story
        Region("text", 0.9, box(100, 810, 480, 1300)),  # 6 third story, column 1
        Region("text", 0.9, box(520, 810, 900, 1300)),  # 7 column 2
        Region("text", 0.9, box(940, 810, 1320, 1300)),  # 8 column 3
    ]


def test_a_rule_across_the_page_closes_a_zone_before_columns_are_cut() -> None:
    separators = Separators(rules=(box(100, 718, 1320, 722),))
    result = reading_order(_zones(), TASKS, 1400, 0.05, separators)
    assert result.order == [0, 1, 2, 3, 4, 5, 6, 7, 8]


def test_a_short_rule_inside_one_column_does_not_cut_the_page() -> None:
    regions = [
        Region("text", 0.9, box(100, 100, 480, 600)),
        Region("text", 0.9, box(100, 640, 480, 1200)),
        Region("text", 0.9, box(520, 100, 900, 1200)),
    ]
    separators = Separators(rules=(box(100, 618, 300, 621),))  # a footnote rule in the left column
    assert reading_order(regions, TASKS, 1400, 0.05, separators).order == [0, 1, 2]


def test_regions_in_an_inset_box_are_read_after_the_column_around_it() -> None:
    regions = [
        Region("title", 0.9, box(100, 40, 900, 90)),  # 0
        Region("text", 0.9, box(100, 120, 480, 1300)),  # 1 left column
        Region("text", 0.9, box(520, 120, 900, 400)),  # 2 right column above the box
        Region("text", 0.9, box(540, 460, 880, 620)),  # 3 inside the box
        Region("text", 0.9, box(540, 630, 880, 700)),  # 4 inside the box
        Region("text", 0.9, box(520, 760, 900, 1300)),  # 5 right column below the box, same article
    ]
    separators = Separators(boxes=(box(525, 440, 895, 720),))
    assert reading_order(regions, TASKS, 1400, 0.05, separators).order == [0, 1, 2, 5, 3, 4]
    # Without the box the right column is simply read top to bottom.
    assert reading_order(regions, TASKS, 1400, 0.05).order == [0, 1, 2, 3, 4, 5]


def _column(x: float, y: float, rows: int, tag: str) -> list[Line]:
    text = "words of running text in a column long enough to be prose " + tag
    return [Line(text=f"{text} {k}", bbox=box(x, y + 40 * k, x + 380, y + 40 * k + 24)) for k in range(rows)]


def test_line_order_closes_a_band_at_a_rule_and_reads_an_inset_after_its_column() -> None:
    top_left, top_right = _column(100, 100, 8, "A"), _column(520, 100, 8, "B")
    bottom_left, bottom_right = _column(100, 460, 6, "C"), _column(520, 460, 6, "D")
    lines = [*top_left, *top_right, *bottom_left, *bottom_right]
    rule = Separators(rules=(box(100, 428, 900, 431),))
    sections = order_lines(lines, 1000, rule)
    tags = [section.lines[0].text.split()[-2] for section in sections]
    assert tags == ["A", "B", "C", "D"]

    left = _column(100, 100, 14, "L")
    above, inset, below = _column(520, 100, 4, "R"), _column(540, 280, 3, "I"), _column(520, 420, 6, "S")
    framed = Separators(boxes=(box(530, 265, 910, 400),))
    sections = order_lines([*left, *above, *inset, *below], 1000, framed)
    read = [line.text.split()[-2] for section in sections for line in section.lines]
    # The left column, the right column's text around the box, then the inset as one unit.
    assert read == ["L"] * 14 + ["R"] * 4 + ["S"] * 6 + ["I"] * 3
