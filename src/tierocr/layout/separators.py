"""Rules and boxes drawn on the page: the separators typesetters use between zones and around insets.

A newspaper closes one story's zone with a horizontal rule even where the whitespace under it is no wider
than a paragraph gap, and a magazine sets a sidebar in a ruled or shaded box inside a column. Neither is a
layout region, yet both say how the page is read; they are found here from the pixels alone, so they work
for born-digital and scanned pages alike.

Text never makes a long unbroken run of dark pixels (letters and words have gaps), rules and box edges do;
a shaded box is a long run of not-quite-white paper. Runs are looked for on a copy smeared a few pixels
vertically so that a scan's slight skew does not break a rule into pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tierocr.document import BBox

#: Grey level below which a pixel is ink.
_INK = 140
#: A run must be at least this share of the page width to count as a rule or a box edge.
_MIN_RUN_SHARE = 0.08
#: Bands of long runs thinner than this share of the page height are rules; thicker ones are filled areas.
_RULE_THICKNESS = 0.012
#: Shading is paper darker than the page's own background by at least this many grey levels.
_SHADE_DELTA = 10


@dataclass(frozen=True, slots=True)
class Separators:
    """Horizontal rules and enclosing boxes (ruled or shaded) on one page, in page pixels."""

    rules: tuple[BBox, ...] = ()
    boxes: tuple[BBox, ...] = ()


def _runs(mask: np.ndarray, length: int) -> np.ndarray:
    """Pixels that belong to a horizontal run of at least ``length`` True pixels."""
    h, w = mask.shape
    if length > w:
        return np.zeros_like(mask)
    cs = np.zeros((h, w + 1), dtype=np.int32)
    np.cumsum(mask, axis=1, dtype=np.int32, out=cs[:, 1:])
    full = (cs[:, length:] - cs[:, :-length]) == length  # window starting at x is all True
    covered = np.zeros((h, w + 1), dtype=np.int32)
    # Mark every pixel inside a full window: +1 at its start, -1 after its end, then a running sum.
    covered[:, : w - length + 1] += full
    covered[:, length:] -= full
    return np.cumsum(covered[:, :w], axis=1) > 0


def _smear(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask.copy()
    for shift in range(1, radius + 1):
        out[shift:] |= mask[:-shift]
        out[:-shift] |= mask[shift:]
    return out


def _bands(runs: np.ndarray, scale: float) -> list[tuple[BBox, float]]:
    """Groups of consecutive rows holding runs, as boxes in page pixels with their thickness there."""
    rows = np.flatnonzero(runs.any(axis=1))
    out: list[tuple[BBox, float]] = []
    if rows.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(rows) > 1)
    starts = np.concatenate(([rows[0]], rows[breaks + 1]))
    ends = np.concatenate((rows[breaks], [rows[-1]]))
    for y0, y1 in zip(starts, ends, strict=True):
        cols = np.flatnonzero(runs[y0 : y1 + 1].any(axis=0))
        box = BBox(x0=cols[0] * scale, y0=y0 * scale, x1=(cols[-1] + 1) * scale, y1=(y1 + 1) * scale)
        out.append((box, (y1 - y0 + 1) * scale))
    return out


def _vertical_edge(ink: np.ndarray, x: int, y0: int, y1: int) -> bool:
    """Ink down most of the height near column ``x``: the side of a ruled box."""
    x0, x1 = max(x - 3, 0), min(x + 4, ink.shape[1])
    if y1 <= y0 or x1 <= x0:
        return False
    return float(ink[y0:y1, x0:x1].any(axis=1).mean()) >= 0.8


def find_separators(image: Image.Image, *, max_side: int = 1400) -> Separators:
    """Rules and boxes on a page image; cheap (a few numpy passes over a page-sized array)."""
    grey = image.convert("L")
    scale = 1.0
    if max(grey.size) > max_side:
        scale = max(grey.size) / max_side
        grey = grey.resize((round(grey.width / scale), round(grey.height / scale)), Image.Resampling.BOX)
    array = np.asarray(grey)
    h, w = array.shape
    length = max(int(_MIN_RUN_SHARE * w), 20)
    smear = max(1, round(h * 0.002))
    ink = array < _INK
    rules: list[BBox] = []
    filled: list[BBox] = []
    for box, thickness in _bands(_runs(_smear(ink, smear), length), scale):
        (rules if thickness <= _RULE_THICKNESS * h * scale else filled).append(box)
    background = float(np.percentile(array, 90))
    shade = (array < background - _SHADE_DELTA) & ~ink
    boxes = [
        box
        for box, thickness in _bands(_runs(_smear(shade | ink, smear), length), scale)
        if thickness > 3 * _RULE_THICKNESS * h * scale
    ]
    # A ruled box: two rules of the same extent joined by ink down both sides.
    tolerance = 0.02 * w * scale
    for k, top in enumerate(rules):
        for bottom in rules[k + 1 :]:
            if abs(top.x0 - bottom.x0) > tolerance or abs(top.x1 - bottom.x1) > tolerance:
                continue
            if bottom.y0 - top.y1 < 3 * _RULE_THICKNESS * h * scale:
                continue
            y0, y1 = int(top.y1 / scale), int(bottom.y0 / scale)
            if _vertical_edge(ink, int(top.x0 / scale), y0, y1) and _vertical_edge(
                ink, int(top.x1 / scale) - 1, y0, y1
            ):
                boxes.append(top.union(bottom))
                break
    return Separators(rules=tuple(_outside(rules, boxes)), boxes=tuple(boxes))


def _outside(rules: Sequence[BBox], boxes: Sequence[BBox]) -> list[BBox]:
    """Rules that are not the edges of a box."""

    def on_edge(rule: BBox, box: BBox) -> bool:
        return (
            rule.x0 >= box.x0 - 4
            and rule.x1 <= box.x1 + 4
            and (abs(rule.y0 - box.y0) <= 6 or abs(rule.y1 - box.y1) <= 6)
        )

    return [r for r in rules if not any(on_edge(r, b) for b in boxes)]
