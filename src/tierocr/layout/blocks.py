"""From ordered lines to schema blocks: paragraphs, headings, list items and page furniture.

This is the no-model path shared by the text layer and every classical engine, so each tier's output
gets the same structure. The cues are geometric (gaps, heights, indentation) and lexical (bullets,
page-number shapes), which hold across languages and sources rather than for one corpus.
"""

from __future__ import annotations

import itertools
import re
import statistics

from tierocr.document import FURNITURE_KINDS, BBox, Block, BlockKind, Provenance
from tierocr.layout.furniture import furniture_kind as _furniture_kind
from tierocr.layout.furniture import is_margin_text, mark_furniture
from tierocr.layout.reading_order import Line, median_height, order_lines
from tierocr.layout.separators import Separators

_BULLET = re.compile(r"^\s*(?:[•●○◦▪▫■□‣⁃∙·\-–*]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|[ivxIVX]{1,4}[.)])\s+\S")
#: How a footnote starts: a number, a reference mark or a superscript digit, then a space or a stop.
FOOTNOTE_MARK = re.compile(r"^\s*(?:\d{1,3}|[*†‡§¶]{1,3}|[\u00b9\u00b2\u00b3\u2070-\u2079]{1,3})[\s.)]")
#: Footnotes are set smaller than the body: at most this share of its line height.
FOOTNOTE_SIZE = 0.85
#: ... and sit in the lower part of the page.
FOOTNOTE_BAND = 0.6


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x3000 <= code <= 0x303F
    )


def join_lines(texts: list[str]) -> str:
    """Join wrapped lines into running text: undo end-of-line hyphenation, no spaces between CJK."""
    out = ""
    for text in texts:
        text = text.strip()
        if not text:
            continue
        if not out:
            out = text
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha() and text[0].islower():
            out = out[:-1] + text
        elif _is_cjk(out[-1]) and _is_cjk(text[0]):
            out += text
        else:
            out += " " + text
    return out


def _paragraphs(rows: list[list[Line]]) -> list[list[list[Line]]]:
    """Split a section's rows into paragraphs.

    Cues, all relative to the section itself so they hold for any font size and for OCR boxes (which are
    padded) as well as text-layer boxes: a vertical gap clearly above the section's usual line gap, a
    change of text size, a list bullet, a first-line indent, a short last line ending a sentence, and
    table-like rows (several cells) which stay lines of their own.
    """
    boxes = [_row_box(row) for row in rows]
    gaps = [b.y0 - a.y1 for a, b in itertools.pairwise(boxes)]
    usual_gap = statistics.median(gaps) if len(gaps) >= 2 else None
    left = min((b.x0 for b in boxes), default=0.0)
    right = max((b.x1 for b in boxes), default=0.0)
    paragraphs: list[list[list[Line]]] = []
    for i, row in enumerate(rows):
        if i == 0:
            paragraphs.append([row])
            continue
        prev, prev_box, box = rows[i - 1], boxes[i - 1], boxes[i]
        h_prev, h_row = median_height(prev), median_height(row)
        h = min(h_prev, h_row)
        gap = box.y0 - prev_box.y1
        threshold = 0.6 * h if usual_gap is None else max(usual_gap, 0.0) + 0.4 * h
        big_gap = gap > threshold
        indented = box.x0 - left > 1.2 * h and prev_box.x0 - left < 0.5 * h
        short_end = prev_box.x1 < right - 0.2 * (right - left) and prev[-1].text.rstrip().endswith(
            (".", ":", "!", "?", "。")
        )
        new_paragraph = (
            big_gap
            or max(h_prev, h_row) / max(h, 1.0) > 1.25
            or _BULLET.match(row[0].text) is not None
            or indented
            or short_end
            or len(prev) > 1
            or len(row) > 1
        )
        if new_paragraph:
            paragraphs.append([row])
        else:
            paragraphs[-1].append(row)
    return paragraphs


def _row_box(row: list[Line]) -> BBox:
    box = row[0].bbox
    for line in row[1:]:
        box = box.union(line.bbox)
    return box


def _heading_level(height: float, body_height: float) -> int | None:
    ratio = height / max(body_height, 1.0)
    if ratio >= 1.8:
        return 1
    if ratio >= 1.4:
        return 2
    if ratio >= 1.2:
        return 3
    return None


def lines_to_blocks(
    lines: list[Line],
    page_width: float,
    page_height: float,
    provenance: Provenance,
    separators: Separators | None = None,
) -> list[Block]:
    """Blocks in reading order for one page's lines (``separators``: the page's rules and boxes)."""
    if not lines:
        return []
    margin = [ln for ln in lines if is_margin_text(ln, page_width)]
    lines = [ln for ln in lines if not is_margin_text(ln, page_width)] if margin else lines
    if not lines:
        lines, margin = margin, []
    sections = order_lines(lines, page_width, separators)
    body_height = statistics.median(ln.height for section in sections for ln in section.lines)
    furniture = mark_furniture(sections, page_width, page_height, body_height)
    blocks: list[Block] = []
    for section in sections:
        run: list[list[Line]] = []
        for row in [*section.rows, []]:
            if row and id(row) not in furniture:
                run.append(row)
                continue
            # A furniture row (or the end of the section) closes the run of body rows before it.
            blocks.extend(_paragraph_block(p, body_height, provenance) for p in _paragraphs(run))
            run = []
            if row:
                text = " ".join(ln.text for ln in row)
                box = _row_box(row)
                blocks.append(
                    Block(
                        kind=_furniture_kind(text, box, page_height) or BlockKind.HEADER,
                        text=text,
                        bbox=box,
                        confidence=_mean_confidence(row),
                        provenance=provenance,
                    )
                )
    # Text set sideways up a margin (a "Downloaded from ..." stamp, an arXiv identifier) is furniture.
    blocks.extend(
        Block(
            kind=BlockKind.HEADER, text=ln.text, bbox=ln.bbox, confidence=ln.confidence, provenance=provenance
        )
        for ln in margin
    )
    return _footnotes_last(blocks, body_height, page_height)


def _footnotes_last(blocks: list[Block], body_height: float, page_height: float) -> list[Block]:
    """Small-type paragraphs that start with a note mark at the foot of a column are footnotes: read
    after all the running text (before the page's footer), not between two columns."""
    notes: list[int] = []
    for k, block in enumerate(blocks):
        height = float(block.attributes.get("line_height", body_height))
        if (
            block.kind in (BlockKind.TEXT, BlockKind.LIST_ITEM)
            and block.bbox is not None
            and block.bbox.y0 >= FOOTNOTE_BAND * page_height
            and height <= FOOTNOTE_SIZE * body_height
            and FOOTNOTE_MARK.match(block.text)
        ):
            notes.append(k)
    # Only notes that end their column: no running text below them there.
    notes = [
        k
        for k in notes
        if not any(
            j not in notes
            and _below_in_column(blocks[j], blocks[k])
            and blocks[j].kind not in FURNITURE_KINDS
            for j in range(len(blocks))
        )
    ]
    if not notes:
        return blocks
    # Only a run of notes that ends its column: nothing but other notes or furniture below it there.
    kept = [b for k, b in enumerate(blocks) if k not in notes]
    moved = [b.model_copy(update={"kind": BlockKind.FOOTNOTE}) for k, b in enumerate(blocks) if k in notes]
    tail = len(kept)
    while tail and kept[tail - 1].kind in FURNITURE_KINDS:
        tail -= 1
    return kept[:tail] + moved + kept[tail:]


def _below_in_column(block: Block, note: Block) -> bool:
    a, b = block.bbox, note.bbox
    if a is None or b is None:
        return False
    return a.y0 >= b.y1 - 1 and min(a.x1, b.x1) - max(a.x0, b.x0) > 0


def _mean_confidence(lines: list[Line]) -> float | None:
    values = [ln.confidence for ln in lines if ln.confidence is not None]
    return sum(values) / len(values) if values else None


def _paragraph_block(paragraph: list[list[Line]], body_height: float, provenance: Provenance) -> Block:
    flat = [ln for row in paragraph for ln in row]
    box = _row_box(flat)
    if any(len(row) > 1 for row in paragraph):
        # Cells of one row are kept apart so a table-like row does not read as one sentence.
        text = "\n".join("  ".join(ln.text for ln in row) for row in paragraph)
    else:
        text = join_lines([row[0].text for row in paragraph])
    kind = BlockKind.TEXT
    level: int | None = None
    height = median_height(flat)
    heading_level = _heading_level(height, body_height)
    if _BULLET.match(text):
        kind = BlockKind.LIST_ITEM
    elif heading_level is not None and len(paragraph) <= 3 and len(text) <= 200 and not text.endswith("."):
        kind = BlockKind.HEADING
        level = heading_level
    return Block(
        kind=kind,
        text=text,
        bbox=box,
        confidence=_mean_confidence(flat),
        provenance=provenance,
        level=level,
        attributes={"line_height": round(height, 2)},
    )
