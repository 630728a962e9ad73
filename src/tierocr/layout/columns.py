"""Regions that span a column gutter are split into their columns before anything is read.

A detector trained on one kind of page draws one box over two or four narrow columns of another kind, or
calls a page of prose columns a table. Read as one region, its rows would run across the gutter and join
sentences of neighbouring columns; read as a table, every line would become a cell. The lines a region
owns say what it holds: where they form columns of running text (the same test full-page mode uses), the
region becomes one text region per column, so ordering and recognition see the page as a reader does.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

from tierocr.document import BBox
from tierocr.layout.blocks import FOOTNOTE_BAND, FOOTNOTE_MARK, FOOTNOTE_SIZE
from tierocr.layout.detector import Region
from tierocr.layout.reading_order import Line, group_rows, order_lines
from tierocr.layout.region_geometry import WORD_GAP, region_rows, region_segments
from tierocr.layout.separators import Separators
from tierocr.layout.tasks import Task, TaskMap

#: Tasks whose regions are split when their lines are columns of text.
_SPLIT_TASKS = frozenset({Task.TEXT, Task.TABLE, Task.SKIP})
#: Fewer lines than this cannot show columns.
_MIN_LINES = 4
#: Share of the page width at each side where sideways margin text stands.
MARGIN = 0.12
#: Share of the smaller box two text regions must have in common to count as overlapping.
_SHARED = 0.3
#: Median characters per row of a column of prose (a table's cells are shorter, or several per row).
_PROSE_CHARS = 25


def split_spanning_regions(
    regions: Sequence[Region],
    lines: Sequence[Line],
    owners: Sequence[int | None],
    tasks: TaskMap,
    page_width: float,
    separators: Separators | None = None,
    *,
    words: bool = False,
) -> list[Region]:
    """The regions with each gutter-spanning one replaced by its column pieces (label ``text``), and a
    table or figure that holds nothing but one column of prose relabelled ``text``.

    ``owners`` gives each line's region index (see :func:`~tierocr.layout.region_geometry.assign_owners`).
    Columns are found twice: over the whole page (a box over a row of three columns holds too few lines
    to show them itself) and over the region's own lines; a region whose lines are not read column by
    column either way is kept whole.
    """
    owned: dict[int, list[Line]] = {}
    for line, owner in zip(lines, owners, strict=True):
        if owner is not None:
            owned.setdefault(owner, []).append(line)
    column_of = page_columns(lines, page_width, separators, words=words)
    out: list[Region] = []
    for k, region in enumerate(regions):
        members = owned.get(k, [])
        task = tasks.task_for(region.label)
        if task not in _SPLIT_TASKS or not members:
            out.append(region)
            continue
        prose_only = task is not Task.TEXT
        pieces = _page_pieces(members, column_of, prose_only=prose_only)
        if len(pieces) < 2 and len(members) >= _MIN_LINES:
            pieces = column_pieces(members, page_width, prose_only=prose_only, words=words)
        if len(pieces) >= 2:
            out.extend(replace(region, label="text", bbox=piece) for piece in pieces)
        elif task is not Task.TEXT and _prose_column(members, strict=task is Task.SKIP, words=words):
            out.append(replace(region, label="text"))
        else:
            out.append(region)
    return out


def page_columns(
    lines: Sequence[Line], page_width: float, separators: Separators | None, *, words: bool = False
) -> dict[int, int]:
    """id(line) → the section of the page's full-page reading order that holds it: a column (keys from 0)
    or a band read row by row (negative keys). Words along a row are joined into segments first, so a
    PDF's word-by-word layer is judged by its lines, as OCR's is."""
    segments: list[Line] = []
    members: dict[int, list[Line]] = {}
    for row in region_rows(lines) if words else [[line] for line in lines]:
        current, group = row[0], [row[0]]
        for word in row[1:]:
            if word.bbox.x0 - current.bbox.x1 < WORD_GAP * max(current.bbox.height, word.bbox.height):
                current = Line(text=f"{current.text} {word.text}", bbox=current.bbox.union(word.bbox))
                group.append(word)
                continue
            segments.append(current)
            members[id(current)] = group
            current, group = word, [word]
        segments.append(current)
        members[id(current)] = group
    column_of: dict[int, int] = {}
    for k, section in enumerate(order_lines(segments, page_width, separators)):
        # Columns count up from 0; a band read row by row gets a negative key of its own.
        key = k if section.columnar else -1 - k
        for segment in section.lines:
            for line in members.get(id(segment), [segment]):
                column_of[id(line)] = key
    return column_of


def _page_pieces(members: Sequence[Line], column_of: dict[int, int], *, prose_only: bool) -> list[BBox]:
    """Boxes of the region's lines grouped by the page column holding them, when they sit in two or more;
    with ``prose_only`` (a table or a figure) only when the lines are sentence-long."""
    groups: dict[int, list[Line]] = {}
    for line in members:
        groups.setdefault(column_of.get(id(line), -(10**9)), []).append(line)
    if len([key for key in groups if key >= 0]) < 2:
        return []
    if prose_only and statistics.median(len(ln.text) for ln in members) < _PROSE_CHARS - 5:
        return []
    boxes: list[BBox] = []
    for group in groups.values():
        box = group[0].bbox
        for line in group[1:]:
            box = box.union(line.bbox)
        boxes.append(box)
    return boxes


def _prose_column(lines: Sequence[Line], *, strict: bool, words: bool = False) -> bool:
    """One column of text: every row a single segment, which no table is (a table has two columns or
    more); for a figure (``strict``) the rows must also be sentence-long, since a chart's labels are not."""
    rows = group_rows(_segments(lines, words))
    if len(rows) < _MIN_LINES or any(len(row) > 1 for row in rows):
        return False
    return not strict or statistics.median(len(row[0].text) for row in rows) >= _PROSE_CHARS


def column_pieces(
    lines: Sequence[Line], page_width: float, *, prose_only: bool = False, words: bool = False
) -> list[BBox]:
    """Boxes of the sections a region's lines split into when some of them are read column by column;
    empty when none is (a single column, a table, a form read row by row). With ``prose_only`` (a table
    or a figure), every column must also be sentence-long lines: a grid of short cells stays whole."""
    sections = order_lines(_segments(lines, words), page_width)
    columnar = [section for section in sections if section.columnar]
    if not columnar:
        return []
    if prose_only and statistics.median(len(ln.text) for s in columnar for ln in s.lines) < _PROSE_CHARS - 5:
        return []
    boxes: list[BBox] = []
    for section in sections:
        box = section.lines[0].bbox
        for line in section.lines[1:]:
            box = box.union(line.bbox)
        boxes.append(box)
    return boxes


def _segments(lines: Sequence[Line], words: bool) -> list[Line]:
    """Lines to judge columns by: a PDF's words joined along their rows (``words``), other lines as they
    are (an OCR line is already a line, and joining would close a CJK gutter a few pixels wide)."""
    copies = [Line(text=ln.text, bbox=ln.bbox) for ln in lines]
    return region_segments(copies) if words else copies


def tidy_text_regions(
    regions: Sequence[Region], lines: Sequence[Line], owners: Sequence[int | None], tasks: TaskMap
) -> list[Region]:
    """Text regions that overlap another region shrunk to the lines they own, and those of one label
    that then still overlap merged.

    Overlapping detections (a box over one column inside a box over three) split a column's lines between
    them; read one after the other they would interleave the column. Shrunk to their own lines, regions in
    different columns no longer touch, and what still overlaps is one block of text.
    """
    owned: dict[int, BBox] = {}
    for line, owner in zip(lines, owners, strict=True):
        if owner is not None:
            owned[owner] = owned[owner].union(line.bbox) if owner in owned else line.bbox
    out: list[Region] = []
    for k, region in enumerate(regions):
        overlapped = any(j != k and _overlap(other.bbox, region.bbox) for j, other in enumerate(regions))
        if overlapped and tasks.task_for(region.label) is Task.TEXT and k in owned:
            region = replace(region, bbox=owned[k])
        for j, other in enumerate(out):
            if (
                other.label == region.label
                and tasks.task_for(region.label) is Task.TEXT
                and _same_block(other.bbox, region.bbox)
            ):
                out[j] = replace(
                    other, bbox=other.bbox.union(region.bbox), score=max(other.score, region.score)
                )
                break
        else:
            out.append(region)
    if len(out) == len(regions):
        return out
    return tidy_text_regions(out, [], [], tasks)  # a merge may make a box reach another


def _overlap(a: BBox, b: BBox) -> bool:
    """The boxes share a good part of the smaller one: two detections of one block, or interleaved
    ones; not neighbours touching at their edges."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > 0 and h > 0 and w * h > _SHARED * min(a.area, b.area)


def _same_block(a: BBox, b: BBox) -> bool:
    """Overlapping boxes that stand in one column: merged they are one block. A column and a box over
    several columns are not: merged, they would read across the gutter again."""
    return _overlap(a, b) and max(a.x1, b.x1) - min(a.x0, b.x0) <= 1.2 * max(a.width, b.width)


def footnote_regions(
    regions: Sequence[Region],
    owners: Sequence[int | None],
    lines: Sequence[Line],
    tasks: TaskMap,
    page_height: float,
) -> list[Region]:
    """Text regions that are footnotes relabelled ``footnote`` (read after the running text).

    A detector without a footnote class calls them text; their type says otherwise: smaller than the
    body, at the foot of their column, first line opening with a note mark.
    """
    heights = sorted(ln.bbox.height for ln in lines)
    if not heights:
        return list(regions)
    body = heights[len(heights) // 2]
    owned: dict[int, list[Line]] = {}
    for line, owner in zip(lines, owners, strict=True):
        if owner is not None:
            owned.setdefault(owner, []).append(line)
    out = list(regions)
    for k, region in enumerate(regions):
        members = sorted(owned.get(k, []), key=lambda ln: (ln.bbox.y0, ln.bbox.x0))
        if (
            tasks.task_for(region.label) is not Task.TEXT
            or region.label in ("title", "doc_title")
            or not members
        ):
            continue
        if (
            region.bbox.y0 >= FOOTNOTE_BAND * page_height
            and statistics.median(ln.bbox.height for ln in members) <= FOOTNOTE_SIZE * body
            and FOOTNOTE_MARK.match(members[0].text)
            and not any(
                j != k
                and tasks.task_for(other.label) in (Task.TEXT, Task.TABLE, Task.FORMULA, Task.SKIP)
                and other.bbox.y0 >= region.bbox.y1 - 1
                and min(other.bbox.x1, region.bbox.x1) - max(other.bbox.x0, region.bbox.x0) > 0
                for j, other in enumerate(regions)
            )
        ):
            out[k] = replace(region, label="footnote")
    return out


def margin_regions(regions: Sequence[Region], tasks: TaskMap, page_width: float) -> list[Region]:
    """Text regions set sideways up a page margin (a "Downloaded from ..." stamp, an arXiv identifier)
    relabelled ``header``: furniture, kept in the JSON and left out of the Markdown."""
    out = list(regions)
    for k, region in enumerate(regions):
        box = region.bbox
        near_edge = box.x1 <= MARGIN * page_width or box.x0 >= (1 - MARGIN) * page_width
        if tasks.task_for(region.label) is Task.TEXT and near_edge and box.height >= 3 * box.width:
            out[k] = replace(region, label="header")
    return out
