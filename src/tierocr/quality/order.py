"""Order ambiguity: does the page admit several plausible reading orders that disagree?

A page read fluently in the wrong order has confident text in every line, so no text signal sees it.
Its geometry does: when the blocks can be cut into columns first (then bands) or into bands first (then
columns), and the two recursive XY-cuts give different orders, the page is ambiguous and the chosen order
may be wrong; when a tall block spans a gutter that separates the other blocks into columns, the page's
columns were read across. Both come from the blocks' boxes alone (no pixels, no text), in microseconds.
The layout stage's own ``order_ambiguity`` diagnostic, when present, is read beside this one.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from tierocr.document import FURNITURE_KINDS, BBox, BlockKind, Page

_PARAGRAPH_KINDS = frozenset({BlockKind.TEXT, BlockKind.LIST_ITEM})


@dataclass(slots=True)
class OrderStats:
    """``ambiguity``: normalised Kendall distance between the columns-first and bands-first XY-cut orders
    (0: one order); ``page_vs_geometry``: the same between the page's order and the columns-first cut;
    ``gutter_crossing``: share of characters in tall blocks that span a column gutter."""

    units: int = 0
    columns: int = 1
    ambiguity: float = 0.0
    page_vs_geometry: float = 0.0
    gutter_crossing: float = 0.0


def _gaps(spans: list[tuple[float, float]], min_gap: float) -> list[tuple[float, float]]:
    """Empty intervals at least ``min_gap`` wide between the union of ``spans``."""
    gaps: list[tuple[float, float]] = []
    ordered = sorted(spans)
    reach = ordered[0][1]
    for start, end in ordered[1:]:
        if start - reach >= min_gap:
            gaps.append((reach, start))
        reach = max(reach, end)
    return gaps


def _split(items: list[int], boxes: list[BBox], axis: str, min_gap: float) -> list[list[int]] | None:
    """``items`` split at every gap along ``axis`` ("x": columns, "y": bands), or None without a gap."""
    lo, hi = ("x0", "x1") if axis == "x" else ("y0", "y1")
    spans = [(getattr(boxes[i], lo), getattr(boxes[i], hi)) for i in items]
    gaps = _gaps(spans, min_gap)
    if not gaps:
        return None
    groups: list[list[int]] = [[] for _ in range(len(gaps) + 1)]
    for i in items:
        centre = (getattr(boxes[i], lo) + getattr(boxes[i], hi)) / 2
        groups[sum(1 for g in gaps if centre > g[1])].append(i)
    for group in groups:
        group.sort(key=lambda i: (boxes[i].y0, boxes[i].x0) if axis == "x" else (boxes[i].x0, boxes[i].y0))
    return [g for g in groups if g]


def xy_cut(items: list[int], boxes: list[BBox], first: str, gap_x: float, gap_y: float) -> list[int]:
    """Recursive XY-cut that tries ``first`` ("x" or "y") at every level, the other axis when it has
    no gap; a group neither axis can split is read top to bottom."""
    if len(items) <= 1:
        return list(items)
    second = "y" if first == "x" else "x"
    for axis in (first, second):
        groups = _split(items, boxes, axis, gap_x if axis == "x" else gap_y)
        if groups is not None and len(groups) > 1:
            return [i for g in groups for i in xy_cut(g, boxes, first, gap_x, gap_y)]
    return sorted(items, key=lambda i: (boxes[i].y0, boxes[i].x0))


def kendall_distance(a: list[int], b: list[int]) -> float:
    """Share of pairs that two orders of the same items put the other way round."""
    position = {item: k for k, item in enumerate(b)}
    seq = [position[i] for i in a]
    n = len(seq)
    if n < 2:
        return 0.0
    discordant = sum(1 for i in range(n) for j in range(i + 1, n) if seq[i] > seq[j])
    return discordant / (n * (n - 1) / 2)


def order_stats(page: Page) -> OrderStats:
    units = [
        i
        for i, b in enumerate(page.blocks)
        if b.bbox is not None and b.text.strip() and b.kind not in FURNITURE_KINDS and b.bbox.area > 0
    ]
    out = OrderStats(units=len(units))
    if len(units) < 3:
        return out
    boxes = {i: page.blocks[i].bbox for i in units}
    box_list: list[BBox] = [boxes.get(i) or BBox(x0=0, y0=0, x1=0, y1=0) for i in range(len(page.blocks))]
    chars = {i: max(1, len(page.blocks[i].text.strip())) for i in units}
    # A line's height, estimated from each block's area per character (no line boxes are kept).
    line = 1.3 * statistics.median(math.sqrt(box_list[i].area / chars[i]) for i in units)
    gap_x, gap_y = 1.0 * line, 1.2 * line
    columns_first = xy_cut(units, box_list, "x", gap_x, gap_y)
    bands_first = xy_cut(units, box_list, "y", gap_x, gap_y)
    out.ambiguity = round(kendall_distance(columns_first, bands_first), 4)
    out.page_vs_geometry = round(kendall_distance(units, columns_first), 4)
    gutters = _gutters(units, box_list, line)
    out.columns = len({(g0, g1) for g0, g1, _, _ in gutters}) + 1
    # A tall paragraph across a gutter, at or below where the columns start: columns read as rows. A
    # title or abstract above the columns is not; wide tables, figures and captions are not paragraphs.
    crossing = sum(
        chars[i]
        for i in units
        if box_list[i].height > 3 * line
        and page.blocks[i].kind in _PARAGRAPH_KINDS
        and any(
            box_list[i].x0 < g0 and box_list[i].x1 > g1 and box_list[i].y0 >= y0 - line
            for g0, g1, y0, _ in gutters
        )
    )
    out.gutter_crossing = round(crossing / sum(chars.values()), 4)
    return out


def _gutters(units: list[int], boxes: list[BBox], line: float) -> list[tuple[float, float, float, float]]:
    """Column gutters as (x0, x1, y0, y1): white gaps of at least 1.5 lines between blocks that stand side
    by side (they overlap vertically), over the height those blocks span, with no block in the gap. A
    heading left and a page number right do not make columns; two blocks of text beside each other do."""
    found: list[tuple[float, float, float, float]] = []
    for a in units:
        for b in units:
            left, right = boxes[a], boxes[b]
            overlap = min(left.y1, right.y1) - max(left.y0, right.y0)
            if right.x0 - left.x1 < 1.5 * line or overlap < 0.5 * min(left.height, right.height):
                continue
            if overlap < 2 * line:
                continue
            y0, y1 = max(left.y0, right.y0), min(left.y1, right.y1)
            blocked = any(
                boxes[c].x0 < right.x0 and boxes[c].x1 > left.x1 and boxes[c].y0 < y1 and boxes[c].y1 > y0
                for c in units
                if c not in (a, b)
            )
            if not blocked:
                found.append((left.x1, right.x0, y0, y1))
    return found
