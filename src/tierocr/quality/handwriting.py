"""Handwriting likelihood from the page image: how much of the ink's edges run along the text's axes.

Printed glyphs are built from strokes that are vertical and horizontal (Latin stems and bars, CJK and
Hangul strokes, table rules excluded); a pen's strokes are curved and slanted, so the gradient energy of
handwriting spreads over all orientations. The share of edge energy within a few degrees of the page's
two dominant axes (searched over a small skew range, so a slightly turned scan still counts as print)
is therefore high for print and low for handwriting, whatever the script and whatever the recogniser
made of it: a fluent, confident misread of handwriting still shows here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tierocr.document import BBox, BlockKind, Page

#: Long side the image is analysed at: text stays several pixels high, a page costs a few milliseconds.
_ANALYSIS_SIDE = 1800
#: Degrees either side of an axis that count as "along the axis".
_AXIS_TOLERANCE = 5.0
#: Skew angles searched for the axes (a scan turned a little is still print).
_SKEWS = np.arange(-10.0, 10.5, 1.0)
#: Height in pixels (at the analysis size) a component needs to be judged.
_MIN_GLYPH = 8
#: Less edge energy than this (components, roughly) and the measure is not taken: too little ink.
_MIN_COMPONENTS = 12
#: Blocks judged one by one: text, and tables (handwritten notes are often taken for a table).
_TEXT_KINDS = frozenset(
    {
        BlockKind.TEXT,
        BlockKind.TITLE,
        BlockKind.HEADING,
        BlockKind.LIST_ITEM,
        BlockKind.CAPTION,
        BlockKind.TABLE,
    }
)


@dataclass(slots=True)
class StrokeStats:
    """Axis share of the page's text-like ink, and of each text block with enough ink of its own."""

    axis_share: float | None = None
    components: int = 0
    #: Block index → axis share, for blocks with enough ink to judge.
    per_block: dict[int, float] = field(default_factory=dict)


def _axis_share(angles: np.ndarray, weights: np.ndarray) -> float | None:
    """Largest share of the edge energy within ``_AXIS_TOLERANCE`` of two perpendicular axes, over the
    searched skews; one histogram of orientations mod 90° (both axes at once) serves every skew."""
    total = float(weights.sum())
    if total <= 0:
        return None
    bins = np.bincount((angles % 90.0).astype(np.int64) % 90, weights=weights, minlength=90)
    wrapped = np.concatenate([bins, bins, bins])  # index 90 + k is k degrees, either side reachable
    tol = int(_AXIS_TOLERANCE)
    best = max(float(wrapped[90 + int(skew) - tol : 90 + int(skew) + tol].sum()) for skew in _SKEWS)
    return best / total


def stroke_stats(image: Image.Image, page: Page | None = None) -> StrokeStats:
    """Edge-orientation statistics of the text-sized ink of ``image`` (and per text block of ``page``)."""
    import cv2

    g = np.asarray(image.convert("L"), dtype=np.uint8)
    scale = min(1.0, _ANALYSIS_SIDE / max(g.shape))
    if scale < 1.0:
        size = (max(1, int(g.shape[1] * scale)), max(1, int(g.shape[0] * scale)))
        g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(g, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
    # Text-sized components only: rules, frames, photos and specks would swamp the glyphs' strokes.
    # Glyphs under _MIN_GLYPH pixels are too blurred to show their strokes' directions: not judged.
    text_like = (area >= 8) & (h >= _MIN_GLYPH) & (h < g.shape[0] * 0.08) & (w < 6 * h) & (h < 6 * w)
    text_like[0] = False
    out = StrokeStats(components=int(text_like.sum()))
    if out.components < _MIN_COMPONENTS:
        return out
    mask = text_like[labels].astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)
    gf = g.astype(np.float32)
    gx = cv2.Sobel(gf, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gf, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy)
    edges = mask & (magnitude > 40.0)
    # Orientations only where they count: arctan over the whole page would cost more than the rest.
    angles = np.zeros_like(magnitude)
    angles[edges] = np.degrees(np.arctan2(gy[edges], gx[edges])) % 180.0
    out.axis_share = _axis_share(angles[edges], magnitude[edges])
    if page is None:
        return out
    sx, sy = g.shape[1] / page.width, g.shape[0] / page.height
    for index, block in enumerate(page.blocks):
        if block.kind not in _TEXT_KINDS or block.bbox is None:
            continue
        window = _window(block.bbox, sx, sy, g.shape)
        if window is None:
            continue
        region = edges[window]
        if region.sum() < 400:  # a few words at least
            continue
        share = _axis_share(angles[window][region], magnitude[window][region])
        if share is not None:
            out.per_block[index] = round(share, 4)
    return out


def _window(box: BBox, sx: float, sy: float, shape: tuple[int, ...]) -> tuple[slice, slice] | None:
    y0, y1 = max(0, int(box.y0 * sy)), min(shape[0], int(box.y1 * sy) + 1)
    x0, x1 = max(0, int(box.x0 * sx)), min(shape[1], int(box.x1 * sx) + 1)
    if y1 - y0 < 4 or x1 - x0 < 4:
        return None
    return slice(y0, y1), slice(x0, x1)
