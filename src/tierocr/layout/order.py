"""Reading order of layout regions: furniture out of the way, captions glued to their figure or table,
then a recursive XY-cut that prefers column gaps, so multi-column pages are read column by column.

Apart from section breaks (empty bands taller than a typical region), column cuts come first: on a
two-column page the paragraph gaps of the two columns often line up, and a row cut there would read
across the columns. A full-width title, figure or table blocks every
column gap; it is set aside, splits the page into bands above and below it, and the columns of each band
are read in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from tierocr.document import BBox
from tierocr.layout.detector import Region
from tierocr.layout.tasks import Task, TaskMap

_CAPTION_TARGETS = MappingProxyType(
    {"table_caption": "table", "figure_caption": "figure", "figure_title": "figure"}
)
_TARGET_TASKS = frozenset({Task.TABLE, Task.SKIP})
#: A unit wider than this share of its group spans columns; a column of a two-column page is under half.
_SPANNING_SHARE = 0.6
#: Share of a box's width trimmed from each side when looking for column gaps.
_EDGE_SLACK = 0.05


@dataclass(frozen=True, slots=True)
class ReadingOrder:
    """Indices into the region list in reading order, and for each caption the index it belongs to."""

    order: list[int]
    caption_of: dict[int, int]


def _horizontal_overlap(a: BBox, b: BBox) -> float:
    """Overlap of the x-ranges as a share of the narrower box."""
    inter = min(a.x1, b.x1) - max(a.x0, b.x0)
    return max(0.0, inter) / max(1.0, min(a.width, b.width))


def _vertical_gap(a: BBox, b: BBox) -> float:
    return max(0.0, max(a.y0, b.y0) - min(a.y1, b.y1))


def attach_captions(regions: Sequence[Region], tasks: TaskMap, max_gap: float) -> dict[int, int]:
    """Caption index → figure/table index: the nearest one above or below with overlapping columns.

    A caption labelled for tables prefers a table, one for figures a figure; either falls back to the
    other kind, since detectors confuse chart-like tables and figures.
    """
    captions = [i for i, r in enumerate(regions) if "caption" in r.label or r.label in _CAPTION_TARGETS]
    targets = [i for i, r in enumerate(regions) if tasks.task_for(r.label) in _TARGET_TASKS]
    result: dict[int, int] = {}
    for c in captions:
        wanted = _CAPTION_TARGETS.get(regions[c].label)
        candidates = [
            t
            for t in targets
            if _horizontal_overlap(regions[c].bbox, regions[t].bbox) > 0.3
            and _vertical_gap(regions[c].bbox, regions[t].bbox) <= max_gap
        ]
        if not candidates:
            continue
        result[c] = min(
            candidates,
            key=lambda t: (regions[t].label != wanted, _vertical_gap(regions[c].bbox, regions[t].bbox)),
        )
    return result


def _cut(boxes: list[tuple[BBox, int]], axis: str, min_gap: float) -> list[list[tuple[BBox, int]]] | None:
    """Split at every gap of at least ``min_gap`` in the projection on ``axis``, or None if none."""
    if axis == "x":
        # Detected boxes of neighbouring columns often overlap by a few pixels; trim their sides a little.
        spans = [(b.x0 + _EDGE_SLACK * b.width, b.x1 - _EDGE_SLACK * b.width) for b, _ in boxes]
    else:
        spans = [(b.y0, b.y1) for b, _ in boxes]
    ordered = sorted(range(len(boxes)), key=lambda k: spans[k][0])
    groups: list[list[tuple[BBox, int]]] = [[boxes[ordered[0]]]]
    reach = spans[ordered[0]][1]
    for k in ordered[1:]:
        if spans[k][0] - reach >= min_gap:
            groups.append([boxes[k]])
        else:
            groups[-1].append(boxes[k])
        reach = max(reach, spans[k][1])
    return groups if len(groups) > 1 else None


def _column_cut(
    boxes: list[tuple[BBox, int]], min_gap: float, thin: float
) -> list[list[tuple[BBox, int]]] | None:
    """Columns found from the blocks taller than ``thin``; one-line units (a running citation, a short
    heading) that poke across the gutter join the column holding their centre instead of hiding it."""
    groups = _cut(boxes, "x", min_gap)
    if groups:
        return groups
    anchors = [item for item in boxes if item[0].height >= thin]
    if len(anchors) < 2 or len(anchors) == len(boxes):
        return None
    groups = _cut(anchors, "x", min_gap)
    if not groups:
        return None
    ranges = [(min(b.x0 for b, _ in g), max(b.x1 for b, _ in g)) for g in groups]
    for item in boxes:
        if item[0].height >= thin:
            continue
        centre = (item[0].x0 + item[0].x1) / 2
        k = min(range(len(ranges)), key=lambda j: max(ranges[j][0] - centre, 0.0, centre - ranges[j][1]))
        groups[k].append(item)
    return groups


def _spanning(boxes: list[tuple[BBox, int]]) -> list[int]:
    """Units wider than :data:`_SPANNING_SHARE` of their group: titles, wide figures; never a column."""
    left = min(b.x0 for b, _ in boxes)
    width = max(b.x1 for b, _ in boxes) - left
    return [i for b, i in boxes if b.width > _SPANNING_SHARE * width]


def _xy_cut(boxes: list[tuple[BBox, int]], min_gap: float, section_gap: float) -> list[int]:
    """Section breaks (tall empty bands) first, then column gaps; a unit spanning the columns (title,
    wide figure) splits them into bands read one after another; a single column is read top to bottom."""
    if len(boxes) <= 1:
        return [i for _, i in boxes]
    groups = _cut(boxes, "y", section_gap) or _column_cut(boxes, min_gap, section_gap / 2)
    if groups:
        return [i for group in groups for i in _xy_cut(group, min_gap, section_gap)]
    by_index = {i: b for b, i in boxes}
    spanning = sorted(_spanning(boxes), key=lambda i: by_index[i].y0)
    if not spanning or len(spanning) == len(boxes):
        return [i for _, i in sorted(boxes, key=lambda item: (item[0].y0, item[0].x0))]
    bands: list[list[tuple[BBox, int]]] = [[] for _ in range(len(spanning) + 1)]
    for b, i in boxes:
        if i in spanning:
            continue
        centre = (b.y0 + b.y1) / 2
        above = sum(1 for s in spanning if (by_index[s].y0 + by_index[s].y1) / 2 < centre)
        bands[above].append((b, i))
    out: list[int] = []
    for k, band in enumerate(bands):
        out.extend(_xy_cut(band, min_gap, section_gap))
        if k < len(spanning):
            out.append(spanning[k])
    return out


def reading_order(
    regions: Sequence[Region], tasks: TaskMap, page_height: float, caption_max_gap: float
) -> ReadingOrder:
    """Order the regions of one page; ``caption_max_gap`` is a share of the page height."""
    caption_of = attach_captions(regions, tasks, caption_max_gap * page_height)
    members: dict[int, list[int]] = {}
    for caption, target in caption_of.items():
        members.setdefault(target, [target]).append(caption)
    head: list[int] = []
    tail: list[int] = []
    units: list[tuple[BBox, int]] = []
    for i, region in enumerate(regions):
        if i in caption_of:
            continue
        if tasks.task_for(region.label) is Task.ABANDON:
            centre = (region.bbox.y0 + region.bbox.y1) / 2
            (head if centre < page_height / 2 else tail).append(i)
            continue
        box = region.bbox
        for member in members.get(i, []):
            box = box.union(regions[member].bbox)
        units.append((box, i))
    heights = sorted(r.bbox.height for r in regions) or [0.0]
    # A gap narrower than a small share of a typical region is inter-word or noise, not a column.
    min_gap = max(2.0, 0.1 * heights[len(heights) // 2])
    # An empty band taller than a typical region ends a section (an article, a part of a form) even on
    # a multi-column page: read everything above it first.
    section_gap = max(min_gap, heights[len(heights) // 2])
    order: list[int] = sorted(head, key=lambda i: (regions[i].bbox.y0, regions[i].bbox.x0))
    for unit in _xy_cut(units, min_gap, section_gap):
        group = members.get(unit, [unit])
        order.extend(sorted(group, key=lambda i: (regions[i].bbox.y0, regions[i].bbox.x0)))
    order.extend(sorted(tail, key=lambda i: (regions[i].bbox.y0, regions[i].bbox.x0)))
    return ReadingOrder(order=order, caption_of=caption_of)
