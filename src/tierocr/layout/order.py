"""Reading order of layout regions: furniture out of the way, captions glued to their figure or table,
then a recursive XY-cut that prefers column gaps, so multi-column pages are read column by column.

Apart from section breaks (empty bands taller than a typical region), column cuts come first: on a
two-column page the paragraph gaps of the two columns often line up, and a row cut there would read
across the columns. A full-width title, figure or table blocks every
column gap; it is set aside, splits the page into bands above and below it, and the columns of each band
are read in turn.

Separators drawn on the page count too (:mod:`tierocr.layout.separators`): a horizontal rule across a
group closes a zone even where its whitespace is narrow (newspapers), and the regions inside a ruled or
shaded box narrower than its column (an inset, a sidebar) are read together, after the column's own text,
so the article around them is not cut mid-paragraph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from tierocr.document import BBox
from tierocr.layout.detector import Region
from tierocr.layout.separators import Separators
from tierocr.layout.tasks import Task, TaskMap

_CAPTION_TARGETS = MappingProxyType(
    {"table_caption": "table", "figure_caption": "figure", "figure_title": "figure"}
)
_TARGET_TASKS = frozenset({Task.TABLE, Task.SKIP})
#: A unit wider than this share of its group spans columns; a column of a two-column page is under half.
_SPANNING_SHARE = 0.6
#: Share of a box's width trimmed from each side when looking for column gaps.
_EDGE_SLACK = 0.05
#: A rule spanning this share of a group's width closes a zone of that group.
_RULE_SPAN = 0.6
#: A region lies in a box when this share of its area is inside it.
_INSIDE = 0.8
#: Labels of footnotes, read after the page's running text (before its footer).
_FOOTNOTES = frozenset({"footnote", "vision_footnote"})
#: Index given to a box's group of regions while ordering (real indices are >= 0).
_GROUP = -1


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


def _cut(
    boxes: list[tuple[BBox, int]],
    axis: str,
    min_gap: float,
    accept: Callable[[float, float], bool] | None = None,
) -> list[list[tuple[BBox, int]]] | None:
    """Split at every gap of at least ``min_gap`` in the projection on ``axis`` (and, with ``accept``,
    only where it accepts the gap's start and end), or None if there is none."""
    if axis == "x":
        # Detected boxes of neighbouring columns often overlap by a few pixels; trim their sides a little.
        spans = [(b.x0 + _EDGE_SLACK * b.width, b.x1 - _EDGE_SLACK * b.width) for b, _ in boxes]
    else:
        spans = [(b.y0, b.y1) for b, _ in boxes]
    ordered = sorted(range(len(boxes)), key=lambda k: spans[k][0])
    groups: list[list[tuple[BBox, int]]] = [[boxes[ordered[0]]]]
    reach = spans[ordered[0]][1]
    for k in ordered[1:]:
        start = spans[k][0]
        if start - reach >= min_gap and (accept is None or accept(reach, start)):
            groups.append([boxes[k]])
        else:
            groups[-1].append(boxes[k])
        reach = max(reach, spans[k][1])
    return groups if len(groups) > 1 else None


def _rule_cut(boxes: list[tuple[BBox, int]], rules: Sequence[BBox]) -> list[list[tuple[BBox, int]]] | None:
    """Split where a rule running across the group lies in a gap between its rows of units."""
    if not rules:
        return None
    left = min(b.x0 for b, _ in boxes)
    right = max(b.x1 for b, _ in boxes)
    across = [r for r in rules if min(r.x1, right) - max(r.x0, left) >= _RULE_SPAN * (right - left)]
    if not across:
        return None

    def ruled(top: float, bottom: float) -> bool:
        return any(top <= (r.y0 + r.y1) / 2 <= bottom for r in across)

    return _cut(boxes, "y", 0.0, ruled)


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


def _xy_cut(
    boxes: list[tuple[BBox, int]], min_gap: float, section_gap: float, rules: Sequence[BBox]
) -> list[int]:
    """Section breaks (tall empty bands, ruled gaps) first, then column gaps; a unit spanning the columns
    (title, wide figure) splits them into bands read one after another; a single column is read top to
    bottom, with the boxed groups (index :data:`_GROUP` and below) after the column's own text."""
    if len(boxes) <= 1:
        return [i for _, i in boxes]
    groups = (
        _cut(boxes, "y", section_gap)
        or _rule_cut(boxes, rules)
        or _column_cut(boxes, min_gap, section_gap / 2)
    )
    if groups:
        return [i for group in groups for i in _xy_cut(group, min_gap, section_gap, rules)]
    by_index = {i: b for b, i in boxes}
    # A boxed group (an inset) never splits its column into bands: it is read after the group's text,
    # since the article around it may run on from above it to below it mid-paragraph.
    rest = [u for u in boxes if u[1] > _GROUP]
    deferred = [i for _, i in sorted((u for u in boxes if u[1] <= _GROUP), key=lambda u: u[0].y0)]
    spanning = sorted(_spanning(rest), key=lambda i: by_index[i].y0) if rest else []
    if not spanning or len(spanning) == len(rest):
        return [i for _, i in _top_down(rest)] + deferred
    bands: list[list[tuple[BBox, int]]] = [[] for _ in range(len(spanning) + 1)]
    for b, i in rest:
        if i in spanning:
            continue
        centre = (b.y0 + b.y1) / 2
        above = sum(1 for s in spanning if (by_index[s].y0 + by_index[s].y1) / 2 < centre)
        bands[above].append((b, i))
    out: list[int] = []
    for k, band in enumerate(bands):
        out.extend(_xy_cut(band, min_gap, section_gap, rules))
        if k < len(spanning):
            out.append(spanning[k])
    return out + deferred


def _top_down(units: list[tuple[BBox, int]]) -> list[tuple[BBox, int]]:
    """Units top to bottom, those side by side (rows overlapping by half the lower one) left to right:
    a scan's slight skew must not read a row of columns right to left."""
    rows: list[list[tuple[BBox, int]]] = []
    for unit in sorted(units, key=lambda u: u[0].y0):
        b = unit[0]
        if rows:
            top = min(u[0].y0 for u in rows[-1])
            bottom = max(u[0].y1 for u in rows[-1])
            if min(bottom, b.y1) - max(top, b.y0) >= 0.5 * min(b.height, bottom - top):
                rows[-1].append(unit)
                continue
        rows.append([unit])
    return [u for row in rows for u in sorted(row, key=lambda u: u[0].x0)]


def _boxed(
    units: list[tuple[BBox, int]], boxes: Sequence[BBox]
) -> tuple[list[tuple[BBox, int]], list[list[tuple[BBox, int]]]]:
    """Units with those inside a box (narrower than the page's units, holding at least one) replaced by
    one unit per box; returns the new units and each box's members (unit ``_GROUP - k`` is box k's)."""
    if not boxes or not units:
        return units, []
    width = max(b.x1 for b, _ in units) - min(b.x0 for b, _ in units)
    members: list[list[tuple[BBox, int]]] = []
    taken: set[int] = set()
    out: list[tuple[BBox, int]] = []
    for box in boxes:
        if box.width > _SPANNING_SHARE * width:
            continue  # a full-width box is a band of its own, read where it stands
        inside = [u for u in units if u[1] not in taken and _share_inside(u[0], box) >= _INSIDE]
        if not inside or len(inside) == len(units):
            continue
        taken.update(i for _, i in inside)
        out.append((box, _GROUP - len(members)))
        members.append(inside)
    return [u for u in units if u[1] not in taken] + out, members


def _share_inside(inner: BBox, outer: BBox) -> float:
    w = min(inner.x1, outer.x1) - max(inner.x0, outer.x0)
    h = min(inner.y1, outer.y1) - max(inner.y0, outer.y0)
    return 0.0 if w <= 0 or h <= 0 else w * h / max(inner.area, 1e-6)


def reading_order(
    regions: Sequence[Region],
    tasks: TaskMap,
    page_height: float,
    caption_max_gap: float,
    separators: Separators | None = None,
    line_height: float | None = None,
) -> ReadingOrder:
    """Order the regions of one page; ``caption_max_gap`` is a share of the page height and
    ``line_height`` the median height of the page's text lines, when known."""
    caption_of = attach_captions(regions, tasks, caption_max_gap * page_height)
    members: dict[int, list[int]] = {}
    for caption, target in caption_of.items():
        members.setdefault(target, [target]).append(caption)
    head: list[int] = []
    tail: list[int] = []
    notes: list[int] = []
    units: list[tuple[BBox, int]] = []
    for i, region in enumerate(regions):
        if i in caption_of:
            continue
        if tasks.task_for(region.label) is Task.ABANDON:
            centre = (region.bbox.y0 + region.bbox.y1) / 2
            (head if centre < page_height / 2 else tail).append(i)
            continue
        if region.label in _FOOTNOTES:
            notes.append(i)
            continue
        box = region.bbox
        for member in members.get(i, []):
            box = box.union(regions[member].bbox)
        units.append((box, i))
    heights = sorted(r.bbox.height for r in regions) or [0.0]
    # A gap narrower than a small share of a typical region is inter-word or noise, not a column; a
    # column gutter is about a line high whatever the regions' size, so the text's line height caps it.
    min_gap = max(2.0, 0.1 * heights[len(heights) // 2])
    if line_height:
        min_gap = max(2.0, min(min_gap, 0.75 * line_height))
    section_gap = max(min_gap, heights[len(heights) // 2])
    rules = separators.rules if separators is not None else ()
    units, boxed = _boxed(units, separators.boxes if separators is not None else ())

    def expand(unit: int) -> list[int]:
        if unit <= _GROUP:
            inner = _xy_cut(boxed[_GROUP - unit], min_gap, section_gap, rules)
            return [i for u in inner for i in expand(u)]
        return sorted(members.get(unit, [unit]), key=lambda i: (regions[i].bbox.y0, regions[i].bbox.x0))

    order: list[int] = sorted(head, key=lambda i: (regions[i].bbox.y0, regions[i].bbox.x0))
    for unit in _xy_cut(units, min_gap, section_gap, rules):
        order.extend(expand(unit))
    order.extend(i for _, i in _top_down([(regions[i].bbox, i) for i in notes]))
    order.extend(sorted(tail, key=lambda i: (regions[i].bbox.y0, regions[i].bbox.x0)))
    return ReadingOrder(order=order, caption_of=caption_of)
