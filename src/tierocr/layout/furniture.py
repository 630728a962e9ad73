"""Page furniture: running headers, footers, page numbers and margin stamps, told from the content.

Furniture is kept in the JSON and left out of the Markdown (and so out of search and RAG chunks), since
it repeats on every page and interrupts the text it sits between. The cues are positional and typographic,
which hold across documents: the bands at the top and bottom of the page, a clear gap to the body, the
shape of a page number or of a running head that carries one, small type in a corner, and text set
sideways up a margin.
"""

from __future__ import annotations

import re

from tierocr.document import BBox, BlockKind
from tierocr.layout.reading_order import Line, Section

#: Top and bottom bands of the page (as a share of its height) where running headers and footers live.
FURNITURE_BAND = 0.075
#: The wider band in which small type in a page corner (a slide's footer, a logo's caption) counts.
CORNER_BAND = 0.12
#: Share of the page width at each side that counts as a corner.
CORNER_WIDTH = 0.35
PAGE_NUMBER = re.compile(
    r"^\s*(?:(?:page|p\.|seite|pág\.?)\s*)?[-–—]?\s*(?:\d{1,4}|[ivxlcdm]{1,6})\s*[-–—]?"
    r"(?:\s*(?:of|/|von|de)\s*\d{1,4})?\s*$",
    re.IGNORECASE,
)
#: A running head: a page number of two to four digits (or a roman one) at either end of a short line,
#: as books print "400 BRITISH HUSBANDRY. [Ch. XIX." A single digit is left alone: "1 Introduction" at
#: the top of a page is a numbered heading.
_RUNNING_HEAD = re.compile(
    r"^\s*(?:\d{2,4}|[ivxlcdm]{2,6})\s+[^\W\d].*$|^.*[^\W\d][.\])]?\s+(?:\d{2,4}|[ivxlcdm]{2,6})\s*$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d")
_MAX_HEAD_WORDS = 10
_MAX_CORNER_WORDS = 6
#: Share of the page width at each side where sideways margin text stands.
_MARGIN = 0.12
#: Corner type is at most this share of the body's line height.
_CORNER_SIZE = 0.8


def furniture_kind(line_text: str, box: BBox, page_height: float) -> BlockKind | None:
    if PAGE_NUMBER.match(line_text):
        return BlockKind.PAGE_NUMBER
    if box.y1 <= CORNER_BAND * page_height:
        return BlockKind.HEADER
    if box.y0 >= (1 - CORNER_BAND) * page_height:
        return BlockKind.FOOTER
    return None


def is_margin_text(line: Line, page_width: float) -> bool:
    """A line set sideways in the outer margin: far taller than wide, a sentence long, near an edge."""
    box = line.bbox
    near_edge = box.x1 <= _MARGIN * page_width or box.x0 >= (1 - _MARGIN) * page_width
    return near_edge and box.height >= 3 * box.width and len(line.text.strip()) >= 8


def _row_box(row: list[Line]) -> BBox:
    box = row[0].bbox
    for line in row[1:]:
        box = box.union(line.bbox)
    return box


def mark_furniture(
    sections: list[Section], page_width: float, page_height: float, body_height: float
) -> set[int]:
    """ids of rows that are running headers, footers or page numbers.

    Rows inside the top (bottom) band count when the band as a whole is set apart from the body by a
    clear gap, or when they have the shape of a page number or of a running head carrying one: a title
    that merely starts high on the page runs into the body without such a gap and is kept. Beyond that
    band, short rows of small type in a corner of the page (a slide's footer) count too.
    """
    rows = [row for section in sections for row in section.rows]
    if len(rows) < 3:
        return set()
    boxes = {id(row): _row_box(row) for row in rows}
    top_first = sorted(rows, key=lambda row: boxes[id(row)].y0)
    bottom_first = sorted(rows, key=lambda row: -boxes[id(row)].y1)
    marked: set[int] = set()
    for ordered, top in ((top_first, True), (bottom_first, False)):
        # The furniture is the run of rows from the edge up to the widest gap inside the band.
        best_k, best_gap = 0, 0.0
        reach = 0.0 if top else page_height
        for k, row in enumerate(ordered[:-1]):
            box = boxes[id(row)]
            if top:
                if box.y1 > FURNITURE_BAND * page_height:
                    break
                reach = max(reach, box.y1)
                gap = boxes[id(ordered[k + 1])].y0 - reach
            else:
                if box.y0 < (1 - FURNITURE_BAND) * page_height:
                    break
                reach = min(reach, box.y0)
                gap = reach - boxes[id(ordered[k + 1])].y1
            if gap > best_gap:
                best_k, best_gap = k + 1, gap
        for k, row in enumerate(ordered[: max(best_k, 2)]):
            text = " ".join(ln.text for ln in row)
            box = boxes[id(row)]
            if len(text) > 160:
                continue
            # A running head is the page's first (last) line, a stray mark aside, in the wider corner band:
            # books leave generous margins, and the head carries its page number.
            head = (
                k < 2
                and _in_band(box, top, CORNER_BAND, page_height)
                and len(text.split()) <= _MAX_HEAD_WORDS
                and _RUNNING_HEAD.match(text) is not None
                # One number, the page's: a row of figures (a table's first or last) is no running head.
                and sum(1 for token in text.split() if _NUMBER.search(token)) == 1
            )
            banded = _in_band(box, top, FURNITURE_BAND, page_height)
            if head or (banded and ((k < best_k and best_gap >= body_height) or PAGE_NUMBER.match(text))):
                marked.add(id(row))
        marked |= _corner_rows(ordered, boxes, top, page_width, page_height, body_height)
    return marked


def _in_band(box: BBox, top: bool, band: float, page_height: float) -> bool:
    return box.y1 <= band * page_height if top else box.y0 >= (1 - band) * page_height


def _corner_rows(
    ordered: list[list[Line]],
    boxes: dict[int, BBox],
    top: bool,
    page_width: float,
    page_height: float,
    body_height: float,
) -> set[int]:
    """Short rows of small type within :data:`CORNER_BAND` of the edge and in a side third of the page,
    before any row of body type: a slide's or a report's corner footer (company, event, date)."""
    out: set[int] = set()
    for row in ordered:
        box = boxes[id(row)]
        inside = _in_band(box, top, CORNER_BAND, page_height)
        height = max(ln.height for ln in row)
        if not inside or height > _CORNER_SIZE * body_height:
            break  # the body begins: nothing beyond it is furniture
        text = " ".join(ln.text for ln in row)
        in_corner = box.x1 <= CORNER_WIDTH * page_width or box.x0 >= (1 - CORNER_WIDTH) * page_width
        if in_corner and len(text.split()) <= _MAX_CORNER_WORDS:
            out.add(id(row))
    return out
