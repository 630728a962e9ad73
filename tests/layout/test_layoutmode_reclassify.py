"""Detector labels corrected by page evidence: big 'headers' are titles (prose 'tables' are text: see
test_layoutmode_table_plausibility.py)."""

from __future__ import annotations

from tierocr.document import BBox
from tierocr.layout.detector import Region
from tierocr.layout.parser import _titles_not_headers
from tierocr.layout.reading_order import Line


def _line(y: float, h: float) -> Line:
    return Line(text="x", bbox=BBox(x0=0, y0=y, x1=100, y1=y + h))


def test_large_header_becomes_title_small_one_stays() -> None:
    regions = [
        Region("header", 0.9, BBox(x0=0, y0=0, x1=100, y1=60)),
        Region("header", 0.9, BBox(x0=0, y0=70, x1=100, y1=90)),
        Region("text", 0.9, BBox(x0=0, y0=100, x1=100, y1=400)),
    ]
    lines = [_line(0, 50), _line(70, 18), *(_line(100 + 25 * i, 20) for i in range(10))]
    owners = [0, 1, *([2] * 10)]
    labels = [r.label for r in _titles_not_headers(regions, owners, lines)]
    assert labels == ["title", "header", "text"]
