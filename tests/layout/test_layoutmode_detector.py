from __future__ import annotations

import pytest
from layoutmode_helpers import box, font, paragraph, ruled_table
from PIL import Image, ImageDraw

from tierocr.config import Settings
from tierocr.layout.detector import Region, clip_region, suppress_overlaps


def _iou(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a.area + b.area - w * h)


def test_rapid_layout_finds_columns_title_and_table() -> None:
    pytest.importorskip("rapid_layout")
    from tierocr.layout.rapid_detector import RapidLayoutDetector

    image = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(image)
    draw.text((100, 100), "A Study of Synthetic Pages", fill="black", font=font(48))
    left = paragraph(draw, 100, 220, 480, 18)
    right = paragraph(draw, 660, 220, 480, 18)
    table = ruled_table(draw, 150, 1000, [220, 220, 220, 220], 6, 50)

    regions = RapidLayoutDetector(Settings().layout).detect(image)

    def best(target, label: str) -> float:
        return max((_iou(r.bbox, target) for r in regions if r.label == label), default=0.0)

    assert best(left, "text") > 0.8
    assert best(right, "text") > 0.8
    assert best(table, "table") > 0.8
    assert any(r.label == "title" and r.bbox.y1 < 200 for r in regions)
    assert all(
        0 <= r.bbox.x0 < r.bbox.x1 <= image.width and 0 <= r.bbox.y0 < r.bbox.y1 <= image.height
        for r in regions
    )


def test_suppress_overlaps_keeps_the_better_of_two_labels_for_one_box() -> None:
    regions = [
        Region("title", 0.6, box(10, 10, 200, 40)),
        Region("text", 0.9, box(12, 11, 198, 41)),
        Region("text", 0.8, box(10, 100, 200, 300)),
    ]
    kept = suppress_overlaps(regions, max_iou=0.5)
    assert [(r.label, r.score) for r in kept] == [("text", 0.9), ("text", 0.8)]


def test_clip_region_clamps_to_the_page_and_drops_what_is_outside() -> None:
    clipped = clip_region(Region("text", 0.9, box(-5, -5, 50, 2000)), 100, 1000)
    assert clipped is not None and (clipped.bbox.x0, clipped.bbox.y0, clipped.bbox.y1) == (0, 0, 1000)
    assert clip_region(Region("text", 0.9, box(150, 10, 300, 20)), 100, 1000) is None
