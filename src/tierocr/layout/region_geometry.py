"""Geometry of lines inside layout regions: which region owns a line, how much ink a layer covers, rows.

Shared by the region recognizer and the layout parser; pure functions of boxes and pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from tierocr.document import BBox
from tierocr.layout.blocks import join_lines
from tierocr.layout.crops import crop
from tierocr.layout.reading_order import Line

_DARK = 160  # grey level below which a pixel counts as ink
_TALL = 1.8  # a glyph this many times the row height is a drop capital or an ornament, not a row
#: A PDF's words closer than this many line heights belong to one segment of a row: word spaces, and the
#: wide spaces a form sets after a check box, stay inside; a column gutter or a cell boundary splits.
WORD_GAP = 1.0


def overlap_share(inner: BBox, outer: BBox) -> float:
    """Share of ``inner``'s area that lies inside ``outer``."""
    w = min(inner.x1, outer.x1) - max(inner.x0, outer.x0)
    h = min(inner.y1, outer.y1) - max(inner.y0, outer.y0)
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / max(inner.area, 1e-6)


def crosses(line: BBox, box: BBox) -> bool:
    """The line runs through the box: most of its height, over most of the narrower width of the two."""
    w = min(line.x1, box.x1) - max(line.x0, box.x0)
    h = min(line.y1, box.y1) - max(line.y0, box.y0)
    return w > 0.5 * min(line.width, box.width) and h > 0.5 * line.height


def assign_owners(line_boxes: Sequence[BBox], regions: Sequence[BBox]) -> list[int | None]:
    """For each line, the index of the region it belongs to, or None.

    A line belongs where most of it lies, or to a region lying mostly inside it (a page-number box
    smaller than the OCR line around it); each line goes to one region only, so no text is read twice.
    """
    owners: list[int | None] = []
    for line in line_boxes:
        best: tuple[tuple[float, float], int] | None = None
        for k, region in enumerate(regions):
            w = min(line.x1, region.x1) - max(line.x0, region.x0)
            h = min(line.y1, region.y1) - max(line.y0, region.y0)
            if w <= 0 or h <= 0:
                continue
            inter = w * h
            if inter < 0.5 * max(min(line.area, region.area), 1e-6):
                continue
            # Most of the line inside first (in 5 % steps: a box a few pixels wider than its region, as
            # OCR lines of a padded crop are, still counts as inside); among regions holding it, the one
            # it fills most: a region nested in another owns its own lines.
            score = (round(inter / max(line.area, 1e-6) * 20) / 20, inter / max(region.area, 1e-6))
            if best is None or score > best[0]:
                best = (score, k)
        owners.append(best[1] if best else None)
    return owners


def ink_coverage(image: Image.Image, region: BBox, boxes: Sequence[BBox]) -> float:
    """Share of the region's dark pixels inside ``boxes`` (1.0 for a region without ink)."""
    grey = np.asarray(crop(image, region).convert("L"))
    ink = grey < _DARK
    total = int(ink.sum())
    if total == 0:
        return 1.0
    covered = np.zeros_like(ink)
    pad = 2
    for box in boxes:
        x0 = max(int(box.x0 - region.x0) - pad, 0)
        y0 = max(int(box.y0 - region.y0) - pad, 0)
        x1 = int(box.x1 - region.x0) + pad + 1
        y1 = int(box.y1 - region.y0) + pad + 1
        covered[y0:y1, x0:x1] = True
    return float((ink & covered).sum() / total)


def region_rows(lines: Sequence[Line]) -> list[list[Line]]:
    """Lines (or words) grouped into rows by their vertical centres, left to right within a row.

    Glyphs much taller than the text (a drop capital) would bridge several rows and mix them; they join
    the row their top aligns with instead.
    """
    if not lines:
        return []
    heights = sorted(line.bbox.height for line in lines)
    h = heights[len(heights) // 2]
    tall = [line for line in lines if line.bbox.height > _TALL * h]
    rows: list[tuple[float, list[Line]]] = []
    for line in sorted(
        (ln for ln in lines if ln.bbox.height <= _TALL * h), key=lambda ln: ln.bbox.y0 + ln.bbox.y1
    ):
        centre = (line.bbox.y0 + line.bbox.y1) / 2
        if rows and abs(centre - rows[-1][0]) <= 0.5 * h:
            members = rows[-1][1]
            members.append(line)
            rows[-1] = ((rows[-1][0] * (len(members) - 1) + centre) / len(members), members)
        else:
            rows.append((centre, [line]))
    for line in tall:
        anchor = line.bbox.y0 + h / 2
        if rows:
            min(rows, key=lambda row: abs(row[0] - anchor))[1].append(line)
        else:
            rows.append((anchor, [line]))
    return [sorted(members, key=lambda ln: ln.bbox.x0) for _, members in rows]


def region_segments(lines: Sequence[Line]) -> list[Line]:
    """Words (a PDF's words come one by one) merged into line segments along each row, split where the
    gap is wider than :data:`WORD_GAP` line heights: a column gap or a table cell boundary stays a split."""
    out: list[Line] = []
    for row in region_rows(lines):
        current = row[0]
        for word in row[1:]:
            if word.bbox.x0 - current.bbox.x1 < WORD_GAP * max(current.bbox.height, word.bbox.height):
                current = Line(text=f"{current.text} {word.text}", bbox=current.bbox.union(word.bbox))
            else:
                out.append(current)
                current = word
        out.append(current)
    return out


def join_region_lines(lines: Sequence[Line]) -> str:
    texts: list[str] = []
    for row in region_rows(lines):
        first = row[0].text
        # A drop capital (one tall capital) starts the row's first word: "O" + "ver" is "Over".
        drop_cap = (
            len(row) > 1
            and len(first) == 1
            and first.isupper()
            and row[0].bbox.height > _TALL * row[1].bbox.height
        )
        text = first + (row[1].text if drop_cap else "")
        for line in row[2 if drop_cap else 1 :]:
            text = f"{text} {line.text}"
        texts.append(text)
    return join_lines(texts)
