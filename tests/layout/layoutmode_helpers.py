"""Synthetic pages, a scripted OCR engine and a scripted detector for the layout-mode tests."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from tierocr.document import BBox
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.layout.detector import LayoutDetector, Region

WORDS = [
    "layout",
    "regions",
    "are",
    "read",
    "one",
    "by",
    "one",
    "so",
    "that",
    "tables",
    "figures",
    "and",
    "formulas",
    "each",
    "get",
    "the",
    "treatment",
    "they",
    "need",
    "while",
    "running",
    "text",
    "keeps",
    "its",
    "reading",
    "order",
    "across",
    "columns",
    "and",
    "pages",
    "of",
    "a",
    "document",
]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def paragraph(draw: ImageDraw.ImageDraw, x: int, y: int, width: int, lines: int, size: int = 22) -> BBox:
    """Draw ``lines`` lines of words from x,y within ``width``; returns the ink's box."""
    face = font(size)
    line_height = int(size * 1.5)
    k = 0
    right = x
    for row in range(lines):
        text = ""
        while True:
            word = WORDS[k % len(WORDS)]
            candidate = f"{text} {word}".strip()
            if draw.textlength(candidate, font=face) > width:
                break
            text = candidate
            k += 1
        draw.text((x, y + row * line_height), text, fill="black", font=face)
        right = max(right, x + int(draw.textlength(text, font=face)))
    return BBox(x0=x, y0=y, x1=right, y1=y + lines * line_height)


def ruled_table(
    draw: ImageDraw.ImageDraw, x: int, y: int, col_widths: Sequence[int], rows: int, row_height: int
) -> BBox:
    """A fully ruled grid with a number in every cell."""
    width = sum(col_widths)
    for r in range(rows + 1):
        draw.line((x, y + r * row_height, x + width, y + r * row_height), fill="black", width=2)
    cx = x
    for w in [0, *col_widths]:
        cx += w
        draw.line((cx, y, cx, y + rows * row_height), fill="black", width=2)
    for r in range(rows):
        cx = x
        for c, w in enumerate(col_widths):
            draw.text((cx + 10, y + r * row_height + 8), f"{r}{c}.5", fill="black", font=font(20))
            cx += w
    return BBox(x0=x, y0=y, x1=x + width, y1=y + rows * row_height)


class ScriptedEngine(OcrEngine):
    """Returns fixed lines (in the coordinates of the image it is given) and counts its calls."""

    name = "scripted"

    def __init__(self, lines: Sequence[OcrLine] = ()) -> None:
        self.lines = list(lines)
        self.calls = 0

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        self.calls += 1
        return list(self.lines)


class ScriptedDetector(LayoutDetector):
    name = "scripted-layout"

    def __init__(self, regions: Sequence[Region]) -> None:
        self.regions = list(regions)

    def detect(self, image: Image.Image) -> list[Region]:
        return list(self.regions)


def box(x0: float, y0: float, x1: float, y1: float) -> BBox:
    return BBox(x0=x0, y0=y0, x1=x1, y1=y1)
