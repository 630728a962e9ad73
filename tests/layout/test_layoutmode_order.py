from __future__ import annotations

from layoutmode_helpers import box

from tierocr.config import LayoutSettings
from tierocr.layout.detector import Region
from tierocr.layout.order import attach_captions, reading_order
from tierocr.layout.tasks import TaskMap

TASKS = TaskMap(LayoutSettings())
HEIGHT = 1400.0


def _labels(regions: list[Region], order: list[int]) -> list[str]:
    return [regions[i].label + ":" + str(i) for i in order]


def test_two_columns_are_read_column_by_column_under_a_full_width_title() -> None:
    regions = [
        Region("text", 0.9, box(620, 150, 1100, 400)),  # 0 right column, top
        Region("text", 0.9, box(100, 420, 580, 700)),  # 1 left column, bottom
        Region("title", 0.9, box(100, 40, 1100, 100)),  # 2 full width
        Region("text", 0.9, box(100, 150, 580, 400)),  # 3 left column, top
        Region("text", 0.9, box(620, 420, 1100, 700)),  # 4 right column, bottom
    ]
    result = reading_order(regions, TASKS, HEIGHT, caption_max_gap=0.05)
    assert result.order == [2, 3, 1, 0, 4]


def test_full_width_figure_splits_the_columns_into_bands() -> None:
    regions = [
        Region("text", 0.9, box(100, 100, 580, 400)),  # 0 top left
        Region("text", 0.9, box(620, 100, 1100, 400)),  # 1 top right
        Region("figure", 0.9, box(100, 450, 1100, 800)),  # 2 full-width figure
        Region("figure_caption", 0.9, box(100, 810, 1100, 850)),  # 3 its caption
        Region("text", 0.9, box(100, 900, 580, 1200)),  # 4 bottom left
        Region("text", 0.9, box(620, 900, 1100, 1200)),  # 5 bottom right
    ]
    result = reading_order(regions, TASKS, HEIGHT, caption_max_gap=0.05)
    assert result.order == [0, 1, 2, 3, 4, 5]
    assert result.caption_of == {3: 2}


def test_captions_stay_with_their_table_in_a_column_and_furniture_goes_to_the_ends() -> None:
    regions = [
        Region("footer", 0.9, box(500, 1350, 700, 1380)),  # 0
        Region("table_caption", 0.9, box(100, 150, 580, 180)),  # 1 above its table
        Region("table", 0.9, box(100, 190, 580, 500)),  # 2
        Region("text", 0.9, box(100, 520, 580, 900)),  # 3 left column continues
        Region("text", 0.9, box(620, 150, 1100, 900)),  # 4 right column
        Region("header", 0.9, box(100, 20, 1100, 50)),  # 5
    ]
    result = reading_order(regions, TASKS, HEIGHT, caption_max_gap=0.05)
    assert result.order == [5, 1, 2, 3, 4, 0]
    assert result.caption_of == {1: 2}


def test_a_caption_far_from_any_table_is_not_attached() -> None:
    regions = [
        Region("table", 0.9, box(100, 100, 500, 300)),
        Region("table_caption", 0.9, box(100, 900, 500, 930)),
    ]
    assert attach_captions(regions, TASKS, max_gap=0.05 * HEIGHT) == {}


def test_caption_prefers_the_kind_it_names() -> None:
    regions = [
        Region("figure", 0.9, box(100, 100, 500, 300)),
        Region("table_caption", 0.9, box(100, 310, 500, 340)),
        Region("table", 0.9, box(100, 350, 500, 600)),
    ]
    assert attach_captions(regions, TASKS, max_gap=100) == {1: 2}
