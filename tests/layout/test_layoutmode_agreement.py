"""Order ambiguity: how far a stage's reading of the lines disagrees with the full-page line order."""

from __future__ import annotations

from layoutmode_helpers import box

from tierocr.layout.agreement import order_disagreement
from tierocr.layout.reading_order import Line


def _column(x: float, tag: str) -> list[Line]:
    text = f"a line of running prose that fills the column {tag}"
    return [Line(text=f"{text} {k}", bbox=box(x, 100 + 30 * k, x + 380, 120 + 30 * k)) for k in range(10)]


def test_the_same_reading_scores_zero_and_reading_across_columns_scores_high() -> None:
    left, right = _column(100, "L"), _column(520, "R")
    assert order_disagreement([*left, *right], 1000) == 0.0
    across = [line for pair in zip(left, right, strict=True) for line in pair]  # row by row over the gutter
    assert order_disagreement(across, 1000) > 0.2
    assert order_disagreement([*right, *left], 1000) > 0.4  # the columns swapped
