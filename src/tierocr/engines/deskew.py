"""Small-angle skew of scanned pages, measured from the ink and undone before anything reads the page.

A sheet fed a degree askew shifts the lines of a column sideways by tens of pixels from top to bottom:
gutters between columns narrow until reading order no longer sees them, table rulings stop being
horizontal, and layout boxes cut across lines. The classic measure needs no model: rotated to the right
angle, the page's ink falls into sharp rows, so the row profile of the ink is most uneven there.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Grey level below which a pixel is ink.
_INK = 150
#: Long side of the copy the angle is measured on: enough to resolve text rows, cheap to rotate.
_WORK_SIDE = 1000
#: Angles closer to zero than this are left alone: not worth resampling the page for.
_MIN_ANGLE = 0.2
#: The best angle's profile must beat the unrotated one by this factor, or the page has no clear rows.
_MIN_GAIN = 1.05


#: Rows of ink taller than this share of the page are pictures, not lines of text.
_MAX_ROW_SHARE = 0.04
#: A page needs this many text-like rows at the found angle before its skew is trusted.
_MIN_ROWS = 5


def _profile(ink: Image.Image, angle: float) -> np.ndarray:
    rotated = ink.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=0)
    return np.asarray(rotated, dtype=np.float32).sum(axis=1)


def _sharpness(ink: Image.Image, angle: float) -> float:
    return float(np.square(np.diff(_profile(ink, angle))).sum())


def _text_rows(profile: np.ndarray) -> int:
    """Runs of inked rows no taller than a line of text: what makes the angle worth trusting."""
    inked = profile > 0.02 * max(float(profile.max()), 1.0)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], inked.astype(np.int8), [0]))))
    heights = edges[1::2] - edges[0::2]
    return int((heights <= _MAX_ROW_SHARE * profile.size).sum())


def measure_skew(image: Image.Image, max_angle: float = 5.0) -> float:
    """Degrees to rotate ``image`` counter-clockwise (PIL's sense) to make its text rows horizontal;
    0.0 when the page is straight or shows no rows of text (a photo, a drawing, a blank page)."""
    grey = image.convert("L")
    scale = _WORK_SIDE / max(grey.size)
    if scale < 1:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))))
    ink = grey.point(lambda v: 255 if v < _INK else 0)
    if np.asarray(ink).mean() < 255 * 0.002:
        return 0.0
    straight = _sharpness(ink, 0.0)
    best, best_score = 0.0, straight
    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.5)
    for angle in coarse:
        score = _sharpness(ink, float(angle))
        if score > best_score:
            best, best_score = float(angle), score
    for angle in np.arange(best - 0.4, best + 0.41, 0.1):
        score = _sharpness(ink, float(angle))
        if score > best_score:
            best, best_score = float(angle), score
    if abs(best) < _MIN_ANGLE or best_score < _MIN_GAIN * straight:
        return 0.0
    if _text_rows(_profile(ink, best)) < _MIN_ROWS:
        return 0.0
    return round(best, 2)


def deskew(image: Image.Image, angle: float) -> Image.Image:
    """The page turned by ``angle`` degrees (from :func:`measure_skew`), same size, paper-white corners."""
    if not angle:
        return image
    return image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
