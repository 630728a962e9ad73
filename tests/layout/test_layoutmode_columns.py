"""Regions spanning a column gutter are split into their columns; one prose column is never a table."""

from __future__ import annotations

from layoutmode_helpers import box

from tierocr.config import LayoutSettings
from tierocr.layout.columns import split_spanning_regions, tidy_text_regions
from tierocr.layout.detector import Region
from tierocr.layout.reading_order import Line
from tierocr.layout.tasks import TaskMap

TASKS = TaskMap(LayoutSettings())
PROSE = "a sentence of running text that wraps at the column edge"


def _prose(x: float, rows: int, y: float = 100) -> list[Line]:
    return [Line(text=f"{PROSE} {k}", bbox=box(x, y + 30 * k, x + 380, y + 30 * k + 20)) for k in range(rows)]


def _grid(rows: int) -> list[Line]:
    """A two-column table of short numbers, row-aligned."""
    out = []
    for k in range(rows):
        out.append(Line(text=f"{k}.25", bbox=box(100, 100 + 30 * k, 160, 120 + 30 * k)))
        out.append(Line(text=f"{k * 7}%", bbox=box(400, 100 + 30 * k, 450, 120 + 30 * k)))
    return out


def test_a_text_region_over_two_prose_columns_becomes_one_region_per_column() -> None:
    lines = [*_prose(100, 10), *_prose(520, 10)]
    regions = [Region("text", 0.9, box(90, 90, 910, 420))]
    out = split_spanning_regions(regions, lines, [0] * len(lines), TASKS, 1000)
    assert [r.label for r in out] == ["text", "text"]
    assert out[0].bbox.x1 < 500 < out[1].bbox.x0


def test_a_table_of_prose_columns_is_text_and_a_table_of_numbers_stays_a_table() -> None:
    prose = [*_prose(100, 10), *_prose(520, 10)]
    split = split_spanning_regions(
        [Region("table", 0.9, box(90, 90, 910, 420))], prose, [0] * 20, TASKS, 1000
    )
    assert [r.label for r in split] == ["text", "text"]
    grid = _grid(8)
    kept = split_spanning_regions([Region("table", 0.9, box(90, 90, 460, 350))], grid, [0] * 16, TASKS, 1000)
    assert [r.label for r in kept] == ["table"]


def test_one_column_of_lines_is_not_a_table_and_a_figure_keeps_its_short_labels() -> None:
    column = _prose(100, 6)
    out = split_spanning_regions([Region("table", 0.9, box(90, 90, 490, 300))], column, [0] * 6, TASKS, 1000)
    assert [r.label for r in out] == ["text"]
    labels = [Line(text=f"{k}0", bbox=box(100, 100 + 30 * k, 130, 120 + 30 * k)) for k in range(6)]
    chart = split_spanning_regions(
        [Region("figure", 0.9, box(90, 90, 490, 300))], labels, [0] * 6, TASKS, 1000
    )
    assert [r.label for r in chart] == ["figure"]


def test_overlapping_text_boxes_shrink_to_their_lines_and_what_still_overlaps_merges() -> None:
    left, right = _prose(100, 6), _prose(520, 6)
    regions = [
        Region("text", 0.9, box(90, 90, 700, 300)),  # reaches well into the right column
        Region("text", 0.8, box(510, 90, 910, 300)),
        Region("text", 0.7, box(515, 95, 905, 290)),  # a second box over the right column
    ]
    owners = [0] * 6 + [1, 2, 1, 2, 1, 2]  # the two boxes share the column's lines, alternately
    out = tidy_text_regions(regions, [*left, *right], owners, TASKS)
    assert len(out) == 2
    assert out[0].bbox.x1 <= 480 and out[1].bbox.x0 >= 520  # no longer reaching across the gutter
    assert (out[1].bbox.y0, out[1].bbox.y1) == (100, 270)  # one block for the column, not two interleaved
