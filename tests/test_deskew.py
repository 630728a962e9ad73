"""Skew measured from the ink: generated pages turned by known small angles, and pages with no rows."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from tierocr.engines.deskew import deskew, measure_skew
from tierocr.samples.synthetic import PARAGRAPHS, render_page, scan_of, text_pdf


@pytest.fixture(scope="module")
def page() -> Image.Image:
    return render_page(text_pdf([PARAGRAPHS * 3], columns=2), dpi=150)


@pytest.mark.parametrize("angle", [0.6, -1.3, 2.5, -4.0])
def test_a_scan_turned_by_a_small_angle_is_measured_and_straightened(page: Image.Image, angle: float) -> None:
    skewed = scan_of(page, angle=angle)  # PIL's sense: counter-clockwise
    measured = measure_skew(skewed)
    assert measured == pytest.approx(-angle, abs=0.2)
    assert measure_skew(deskew(skewed, measured)) == 0.0


def test_a_straight_page_a_blank_page_and_a_photo_like_page_are_left_alone(page: Image.Image) -> None:
    assert measure_skew(page) == 0.0
    assert measure_skew(Image.new("RGB", (800, 1000), "white")) == 0.0
    blobs = Image.new("RGB", (800, 1000), "white")
    draw = ImageDraw.Draw(blobs)
    for k in range(6):
        draw.ellipse((50 + 100 * k, 100 + 120 * k, 250 + 100 * k, 300 + 120 * k), fill="black")
    assert measure_skew(blobs) == 0.0  # shapes on a diagonal, but no rows of text
