"""Reading order for lines of text without a layout model.

Lines are grouped into rows (lines that share a vertical band), rows into *bands* that share the same
column gutters, and a band whose columns look like running text is read column by column; anything else
(a table, a form, a single column) is read row by row, left to right. A line that crosses a gutter (a
full-width title, a wide figure caption) closes the band, so a title above two columns is read first and
a second pair of columns below a full-width figure is read after it.

Separators drawn on the page (:mod:`tierocr.layout.separators`) refine this: a rule running across the
text between two rows closes the band there, and the lines inside a box narrower than the page (an inset,
a sidebar) are read as a unit of their own, after the column that holds the box.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from tierocr.document import BBox
from tierocr.layout.separators import Separators

#: A rule spanning this share of the text's width closes a band; a box narrower than this share of it
#: is an inset read on its own.
_RULE_SPAN = 0.6
#: A line lies in a box when this share of its area is inside it.
_INSIDE = 0.8
#: Median words per line of a column of running text (a column of codes or numbers has one).
_PROSE_WORDS = 3


@dataclass(slots=True)
class Line:
    """A line of text from any source (text layer or OCR), in page pixels."""

    text: str
    bbox: BBox
    confidence: float | None = None
    height: float = 0.0

    def __post_init__(self) -> None:
        if not self.height:
            self.height = self.bbox.height


@dataclass(slots=True)
class Section:
    """A run of lines read in one flow: one column of a band, or a band read row by row."""

    lines: list[Line]
    columnar: bool = False
    rows: list[list[Line]] = field(default_factory=list)


def median_height(lines: list[Line]) -> float:
    heights = [line.height for line in lines if line.height > 0]
    return statistics.median(heights) if heights else 10.0


def group_rows(lines: list[Line]) -> list[list[Line]]:
    """Lines whose vertical extents overlap by at least half the smaller height share a row."""
    rows: list[list[Line]] = []
    row_top = row_bottom = 0.0
    for line in sorted(lines, key=lambda ln: (ln.bbox.y0 + ln.bbox.y1) / 2):
        if rows:
            overlap = min(row_bottom, line.bbox.y1) - max(row_top, line.bbox.y0)
            smaller = min(row_bottom - row_top, line.bbox.height)
            if smaller > 0 and overlap >= 0.5 * smaller:
                rows[-1].append(line)
                row_top, row_bottom = min(row_top, line.bbox.y0), max(row_bottom, line.bbox.y1)
                continue
        rows.append([line])
        row_top, row_bottom = line.bbox.y0, line.bbox.y1
    for row in rows:
        row.sort(key=lambda ln: ln.bbox.x0)
    return rows


def gutters(lines: list[Line], min_gap: float) -> list[tuple[float, float]]:
    """Empty vertical strips between the leftmost and rightmost ink of ``lines``, at least min_gap wide."""
    spans = sorted((ln.bbox.x0, ln.bbox.x1) for ln in lines)
    out: list[tuple[float, float]] = []
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= min_gap:
            out.append((reach, x0))
        reach = max(reach, x1)
    return out


def _crosses(line: Line, gutter: tuple[float, float]) -> bool:
    return line.bbox.x0 < gutter[1] and line.bbox.x1 > gutter[0]


def split_bands(
    rows: list[list[Line]], min_gap: float, rules: tuple[BBox, ...] = ()
) -> list[list[list[Line]]]:
    """Consecutive rows that keep at least one common gutter open form a band; a rule between two rows
    (``rules``, already filtered to those running across the text) ends the band above it."""
    bands: list[list[list[Line]]] = []
    band_gutters: list[tuple[float, float]] = []
    for row in rows:
        if bands and not _ruled_between(bands[-1][-1], row, rules):
            merged = [ln for r in bands[-1] for ln in r] + row
            candidate = gutters(merged, min_gap)
            if band_gutters:
                kept = [g for g in candidate if any(g[0] < b[1] and g[1] > b[0] for b in band_gutters)]
                if kept and not any(_crosses(ln, g) for ln in row for g in kept):
                    bands[-1].append(row)
                    band_gutters = kept
                    continue
            elif not gutters(row, min_gap):
                bands[-1].append(row)
                continue
            elif len(bands[-1]) == 1 and candidate:
                # A one-row band (say the first line of a left column) may open the columns below it.
                bands[-1].append(row)
                band_gutters = candidate
                continue
        bands.append([row])
        band_gutters = gutters(row, min_gap) if len(row) > 1 else []
    return bands


def _ruled_between(above: list[Line], below: list[Line], rules: tuple[BBox, ...]) -> bool:
    top = max(ln.bbox.y1 for ln in above)
    bottom = min(ln.bbox.y0 for ln in below)
    return any(top - 2 <= (r.y0 + r.y1) / 2 <= bottom + 2 for r in rules)


def _columns(lines: list[Line], gaps: list[tuple[float, float]]) -> list[list[Line]]:
    edges = [(g[0] + g[1]) / 2 for g in gaps]
    columns: list[list[Line]] = [[] for _ in range(len(edges) + 1)]
    for line in lines:
        centre = (line.bbox.x0 + line.bbox.x1) / 2
        columns[sum(1 for edge in edges if centre > edge)].append(line)
    return [col for col in columns if col]


def _words_per_line(text: str) -> float:
    """Words in a line of text: space-separated tokens, or for CJK (no spaces) about two characters a
    word. A code, a number or a DNA sequence is one word however long it is."""
    cjk = sum(1 for ch in text if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    return max(len(text.split()), cjk / 2)


def _absorb_slivers(columns: list[list[Line]], page_width: float) -> list[list[Line]]:
    """Columns of one or two narrow lines (a margin note, a page number beside the text, a marker)
    joined to their nearest neighbour: a sliver is not a column of the page, and left alone it would make
    the page look like a table and be read row by row."""
    if len(columns) < 2:
        return columns
    out = [list(col) for col in columns]
    k = 0
    while k < len(out) and len(out) > 1:
        col = out[k]
        width = max(ln.bbox.x1 for ln in col) - min(ln.bbox.x0 for ln in col)
        if len(col) <= 2 and width < 0.1 * page_width:
            neighbours = [j for j in (k - 1, k + 1) if 0 <= j < len(out)]
            centre = sum((ln.bbox.x0 + ln.bbox.x1) / 2 for ln in col) / len(col)
            nearest = min(neighbours, key=lambda j: _distance_to(out[j], centre))
            out[nearest].extend(col)
            del out[k]
            continue
        k += 1
    return out


def _distance_to(col: list[Line], x: float) -> float:
    x0 = min(ln.bbox.x0 for ln in col)
    x1 = max(ln.bbox.x1 for ln in col)
    return max(x0 - x, 0.0, x - x1)


def _column_stats(col: list[Line]) -> tuple[float, bool, float]:
    """(width, filled by prose lines, median characters per prose line) of one column.

    Prose is what running text is made of, several words a line; lines of one long token (codes,
    sequences, numbers) have the length of prose but are a table's cells, and count as no characters.
    """
    x0 = min(ln.bbox.x0 for ln in col)
    x1 = max(ln.bbox.x1 for ln in col)
    width = x1 - x0
    prose = statistics.median(_words_per_line(ln.text) for ln in col) >= _PROSE_WORDS
    filled = prose and (len(col) < 2 or statistics.median(ln.bbox.width for ln in col) >= 0.55 * width)
    chars = statistics.median(_length(ln.text) for ln in col) if prose else 0.0
    return width, filled, chars


def _length(text: str) -> int:
    """Characters of a line as Latin-script lengths: a CJK character says about what two letters do."""
    return len(text) + sum(1 for ch in text if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")


def _looks_like_text_columns(columns: list[list[Line]], rows: list[list[Line]], page_width: float) -> bool:
    """Whether a band's columns are page columns (read one after the other) rather than a table.

    A column of justified prose (filled by its lines, sentence-long, several lines) next to anything
    makes the gutter a page gutter: a table inside the other column is ordered later, within it. Without
    one, prose-like columns that are ragged independently of each other (a two-column questionnaire) are
    page columns too; columns ragged in lockstep, row by row, are a table.
    """
    if len(columns) < 2 or len(columns) > 8:
        return False
    stats = [_column_stats(col) for col in columns]
    if any(width < 0.1 * page_width for width, _, _ in stats):
        return False
    if not any(len(col) >= 3 for col in columns):
        return False
    if any(
        filled and chars >= 20 and len(col) >= 5
        for col, (_, filled, chars) in zip(columns, stats, strict=True)
    ):
        return True
    if any(len(col) >= 3 and chars < 8 for col, (_, _, chars) in zip(columns, stats, strict=True)):
        return False
    # Sentence-long lines in every column are prose even when ragged and aligned (a two-column form).
    if all(filled or chars >= 25 for _, filled, chars in stats):
        return True
    column_of = {id(ln): i for i, col in enumerate(columns) for ln in col}
    shared = sum(1 for row in rows if len({column_of[id(ln)] for ln in row}) > 1)
    return shared < 0.5 * len(rows)


def order_lines(lines: list[Line], page_width: float, separators: Separators | None = None) -> list[Section]:
    """The page's lines as sections in reading order."""
    if not lines:
        return []
    rules: tuple[BBox, ...] = ()
    insets: list[tuple[BBox, list[Line]]] = []
    if separators is not None:
        left = min(ln.bbox.x0 for ln in lines)
        right = max(ln.bbox.x1 for ln in lines)
        width = right - left
        rules = tuple(r for r in separators.rules if min(r.x1, right) - max(r.x0, left) >= _RULE_SPAN * width)
        for box in separators.boxes:
            if box.width > _RULE_SPAN * width:
                continue
            inside = [ln for ln in lines if _share_inside(ln.bbox, box) >= _INSIDE]
            if inside and len(inside) < len(lines):
                taken = {id(ln) for ln in inside}
                lines = [ln for ln in lines if id(ln) not in taken]
                insets.append((box, inside))
    sections = _order(lines, page_width, rules)
    for box, inside in insets:
        _insert_after_column(sections, box, _order(inside, page_width, ()))
    return sections


def _order(lines: list[Line], page_width: float, rules: tuple[BBox, ...]) -> list[Section]:
    if not lines:
        return []
    height = median_height(lines)
    min_gap = max(0.75 * height, 0.01 * page_width)
    if _mostly_cjk(lines):
        # CJK is set solid, columns a character apart or less, and a line holds no word spaces that a
        # narrow gutter could be confused with.
        min_gap = max(0.35 * height, 0.004 * page_width)
    sections: list[Section] = []
    for band in split_bands(group_rows(lines), min_gap, rules):
        band_lines = [ln for row in band for ln in row]
        gaps = gutters(band_lines, min_gap) if len(band) > 1 else []
        columns = _absorb_slivers(_columns(band_lines, gaps), page_width) if gaps else []
        if columns and _looks_like_text_columns(columns, band, page_width):
            for col in columns:
                # A column may itself hold columns (a sidebar inside a column): order it again.
                inner = _order(col, page_width, ()) if len(col) > 1 else [Section(col, rows=[col])]
                for section in inner:
                    section.columnar = True
                sections.extend(inner)
        else:
            sections.append(Section(band_lines, rows=band))
    return sections


def _mostly_cjk(lines: list[Line]) -> bool:
    text = "".join(ln.text for ln in lines[:400])
    letters = [ch for ch in text if ch.isalnum()]
    cjk = sum(1 for ch in letters if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    return bool(letters) and cjk > 0.6 * len(letters)


def _insert_after_column(sections: list[Section], box: BBox, inset: list[Section]) -> None:
    """Put an inset's sections after the last section beside it (same column, overlapping rows): the
    text around the box may run on from above it to below it, so the box is read once that text ends."""
    centre = (box.x0 + box.x1) / 2
    position = len(sections)
    for k, section in enumerate(sections):
        x0 = min(ln.bbox.x0 for ln in section.lines)
        x1 = max(ln.bbox.x1 for ln in section.lines)
        y0 = min(ln.bbox.y0 for ln in section.lines)
        y1 = max(ln.bbox.y1 for ln in section.lines)
        if x0 <= centre <= x1 and y0 < box.y1 and y1 > box.y0:
            position = k + 1
    sections[position:position] = inset


def _share_inside(inner: BBox, outer: BBox) -> float:
    w = min(inner.x1, outer.x1) - max(inner.x0, outer.x0)
    h = min(inner.y1, outer.y1) - max(inner.y0, outer.y0)
    return 0.0 if w <= 0 or h <= 0 else w * h / max(inner.area, 1e-6)
