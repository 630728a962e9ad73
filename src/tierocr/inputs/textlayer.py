"""Reading a PDF page's own text, and deciding whether it can be trusted instead of OCR.

The layer is cheap and exact when it is real, and worthless when it is missing (scans), partial (a scan
with a stamped header) or mojibake (fonts without a ToUnicode map, private-use glyph runs). The facts
for that decision are gathered here; the decision itself is :func:`is_usable`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from tierocr.config import TextLayerSettings
from tierocr.document import BBox
from tierocr.inputs.base import TextLayer, TextLine
from tierocr.inputs.pdfium_lock import pdfium_locked, render

_Box = tuple[float, float, float, float]

#: Resolution of the ink map used for the coverage check: enough to see text, cheap to render.
_INK_DPI = 50


def is_bad_char(ch: str) -> bool:
    """Characters that no correct text layer produces: replacement, controls, private-use glyph codes."""
    if ch == "\ufffd":
        return True
    cat = unicodedata.category(ch)
    if cat == "Co":
        return True
    return cat == "Cc" and ch not in "\t\n\r"


def page_to_pixels(page: pdfium.PdfPage, scale: float) -> Callable[[float, float, float, float], _Box]:
    """Maps a box in PDF user space (left, bottom, right, top) to pixels of the page as rendered.

    PDFium renders a page turned by its ``/Rotate`` entry and reports its size turned, but gives
    character and object boxes in the unturned user space; this puts them where the pixels are.
    """
    rotation = page.get_rotation() % 360
    width, height = page.get_size()  # as displayed, i.e. turned
    if rotation in (90, 270):
        width, height = height, width

    def convert(left: float, bottom: float, right: float, top: float) -> _Box:
        if rotation == 90:
            box = (bottom, left, top, right)
        elif rotation == 180:
            box = (width - right, bottom, width - left, top)
        elif rotation == 270:
            box = (height - top, width - right, height - bottom, width - left)
        else:
            box = (left, height - top, right, height - bottom)
        return (box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale)

    return convert


def extract_text_layer(page: pdfium.PdfPage, scale: float, page_height_pt: float) -> TextLayer:
    """Lines of the page's text with boxes in pixels at ``scale`` (pixels per PDF point), as rendered.

    ``page_height_pt`` is kept for callers; the page's own size and ``/Rotate`` entry place the boxes. The
    whole read holds the PDFium lock: it is one text page's many small calls, cheap next to a render.
    """
    with pdfium_locked():
        return _read_text_layer(page, scale)


def _read_text_layer(page: pdfium.PdfPage, scale: float) -> TextLayer:
    to_pixels = page_to_pixels(page, scale)
    textpage = page.get_textpage()
    try:
        n_chars = textpage.count_chars()
        lines: list[TextLine] = []
        chars: list[str] = []
        char_boxes: list[_Box | None] = []  # one per entry of chars: None for spaces and generated ones
        boxes: list[tuple[float, float, float, float]] = []
        heights: list[float] = []
        bad = 0
        counted = 0

        def flush() -> None:
            text = compose_accents(chars, char_boxes).strip()
            if text and boxes:
                x0 = min(b[0] for b in boxes)
                y0 = min(b[1] for b in boxes)
                x1 = max(b[2] for b in boxes)
                y1 = max(b[3] for b in boxes)
                lines.append(
                    TextLine(
                        text=" ".join(text.split()),
                        bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1),
                        char_height=float(np.median(heights)) if heights else y1 - y0,
                    )
                )
            chars.clear()
            char_boxes.clear()
            boxes.clear()
            heights.clear()

        pending_high = 0
        for i in range(n_chars):
            code = pdfium_c.FPDFText_GetUnicode(textpage, i)
            # PDFium hands out UTF-16 code units: join surrogate pairs, never emit a lone surrogate.
            if 0xD800 <= code <= 0xDBFF:
                pending_high = code
                continue
            if 0xDC00 <= code <= 0xDFFF:
                code = 0x10000 + ((pending_high - 0xD800) << 10) + (code - 0xDC00) if pending_high else 0xFFFD
            pending_high = 0
            ch = chr(code) if 0 < code < 0x110000 else "\ufffd"
            if ch == "\x02":
                # PDFium's mark for a soft hyphen, which it leaves in place of the line break: end the line
                # with a hyphen so that paragraph joining mends the word.
                chars.append("-")
                char_boxes.append(None)
                flush()
                continue
            if ch in "\r\n":
                flush()
                continue
            generated = pdfium_c.FPDFText_IsGenerated(textpage, i) == 1
            if not ch.isspace():
                counted += 1
                if is_bad_char(ch):
                    bad += 1
            box = None
            if not generated and not ch.isspace():
                # Loose boxes span the font's ascent to descent, so every line of one font gets the same
                # height whatever its letters; tight boxes make "ace" shorter than "Philip" and fake
                # headings.
                left, bottom, right, top = textpage.get_charbox(i, loose=True)
                if right > left and top > bottom:
                    box = to_pixels(left, bottom, right, top)
                    if boxes and _starts_new_line(boxes[-1], box):
                        flush()  # a layer without line breaks (an OCR'd scan's) wraps here all the same
            chars.append(ch)
            char_boxes.append(box)
            if box is not None:
                boxes.append(box)
                heights.append(box[3] - box[1])
        flush()
    finally:
        textpage.close()
    return TextLayer(lines=lines, char_count=counted, bad_char_count=bad)


#: Spacing accents a PDF may draw as glyphs of their own above a letter (TeX's Type 1 fonts do), and the
#: combining mark each stands for.
_ACCENTS = {
    "\u00b4": "\u0301",  # acute
    "`": "\u0300",  # grave
    "\u02c6": "\u0302",  # circumflex
    "^": "\u0302",
    "\u02dc": "\u0303",  # tilde
    "\u00a8": "\u0308",  # diaeresis
    "\u02c7": "\u030c",  # caron
    "\u02d8": "\u0306",  # breve
    "\u02d9": "\u0307",  # dot above
    "\u02da": "\u030a",  # ring above
    "\u00b8": "\u0327",  # cedilla
    "\u02db": "\u0328",  # ogonek
    "\u02dd": "\u030b",  # double acute
    "\u00af": "\u0304",  # macron
}


def compose_accents(chars: list[str], boxes: list[_Box | None]) -> str:
    """The line's text with accents drawn as separate glyphs put back on their letters.

    TeX sets "Mináč" as M-i-n-a-c with a ´ and a ˇ glyph placed over the a and the c; PDFium reads those
    as characters of their own, in drawing order, often with spaces around them ("Min ´ a´c ˇ"). Each
    spacing accent goes to the letter its box overlaps most, as the combining mark it stands for; spaces
    it leaves between two touching letters go too; the result is NFC (á, č).
    """
    accents = [i for i, ch in enumerate(chars) if ch in _ACCENTS and boxes[i] is not None]
    if not accents:
        return "".join(chars)
    marks: dict[int, str] = {}
    removed: set[int] = set()
    for i in accents:
        box = boxes[i]
        assert box is not None
        best, best_overlap = None, 0.3 * max(box[2] - box[0], 1e-6)
        for j, other in enumerate(boxes):
            if other is None or j == i or not chars[j].isalpha():
                continue
            overlap = min(box[2], other[2]) - max(box[0], other[0])
            if overlap > best_overlap:
                best, best_overlap = j, overlap
        if best is not None:
            marks[best] = marks.get(best, "") + _ACCENTS[chars[i]]
            removed.add(i)
    if not removed:
        return "".join(chars)
    kept = [i for i in range(len(chars)) if i not in removed]
    out: list[str] = []
    for k, i in enumerate(kept):
        ch = chars[i]
        if ch.isspace() and _inside_word(kept, k, chars, boxes, removed):
            continue
        out.append(ch + marks.get(i, ""))
    return unicodedata.normalize("NFC", "".join(out))


def _inside_word(
    kept: list[int], k: int, chars: list[str], boxes: list[_Box | None], removed: set[int]
) -> bool:
    """A space next to a removed accent, between two letters whose glyphs touch: not a word break."""
    i = kept[k]
    if not any(j in removed for j in (i - 1, i + 1)):
        return False
    before = next((kept[m] for m in range(k - 1, -1, -1) if not chars[kept[m]].isspace()), None)
    after = next((kept[m] for m in range(k + 1, len(kept)) if not chars[kept[m]].isspace()), None)
    if before is None or after is None or boxes[before] is None or boxes[after] is None:
        return False
    left, right = boxes[before], boxes[after]
    assert left is not None and right is not None
    height = max(left[3] - left[1], right[3] - right[1], 1e-6)
    return right[0] - left[2] < 0.15 * height


def _starts_new_line(previous: _Box, box: _Box) -> bool:
    """The character sits below the previous one and back to its left: the text wrapped to a new line.
    A subscript sits lower but further right; a right-to-left script moves left but on the same line."""
    middle = (box[1] + box[3]) / 2
    return middle > previous[3] and box[0] < previous[0]


def measure_image_coverage(page: pdfium.PdfPage, layer: TextLayer, scale: float) -> None:
    """Fill in how much of the page is raster image and how much of that image's ink the layer covers.

    A page that is mostly a scanned image but whose layer covers little of the scan's ink is a scan with
    a partial layer (a stamp, a running header): it needs OCR even though it has some text.
    """
    with pdfium_locked():
        width_pt, height_pt = page.get_size()
        to_points = page_to_pixels(page, 1.0)
        bounds = [obj.get_bounds() for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,))]
    rects: list[tuple[float, float, float, float]] = []
    for bound in bounds:
        x0, y0, x1, y1 = to_points(*bound)
        x0, x1 = max(x0, 0.0), min(x1, width_pt)
        y0, y1 = max(y0, 0.0), min(y1, height_pt)
        if x1 > x0 and y1 > y0:
            rects.append((x0, y0, x1, y1))
    if not rects:
        layer.image_coverage = 0.0
        return
    ink_scale = _INK_DPI / 72.0
    gray = np.asarray(render(page, ink_scale, grayscale=True))
    h, w = gray.shape
    in_image = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in rects:
        rows = slice(int(y0 * ink_scale), int(np.ceil(y1 * ink_scale)))
        in_image[rows, int(x0 * ink_scale) : int(np.ceil(x1 * ink_scale))] = True
    layer.image_coverage = float(in_image.mean())
    ink = (gray < 128) & in_image
    total_ink = int(ink.sum())
    if total_ink < 0.002 * h * w:
        layer.image_ink_covered = None
        return
    covered = np.zeros((h, w), dtype=bool)
    factor = ink_scale / scale
    for line in layer.lines:
        b = line.bbox
        pad = line.char_height * factor * 0.3
        covered[
            max(int(b.y0 * factor - pad), 0) : int(b.y1 * factor + pad) + 1,
            max(int(b.x0 * factor - pad), 0) : int(b.x1 * factor + pad) + 1,
        ] = True
    layer.image_ink_covered = float((ink & covered).sum() / total_ink)


def is_usable(layer: TextLayer | None, settings: TextLayerSettings) -> tuple[bool, str]:
    """Whether to take the page from its text layer, and a reason a user can read."""
    if layer is None:
        return False, "no text layer"
    if layer.char_count < settings.min_chars:
        return False, f"text layer has {layer.char_count} characters (< {settings.min_chars})"
    bad_ratio = layer.bad_char_count / max(layer.char_count, 1)
    if bad_ratio > settings.max_bad_char_ratio:
        return False, f"text layer is mojibake: {bad_ratio:.0%} unmappable or private-use characters"
    if (
        layer.image_coverage >= 0.5
        and layer.image_ink_covered is not None
        and layer.image_ink_covered < settings.min_ink_coverage
    ):
        return False, (
            f"scanned page ({layer.image_coverage:.0%} image) whose text layer covers only "
            f"{layer.image_ink_covered:.0%} of its ink"
        )
    return True, f"text layer usable ({layer.char_count} characters)"
