"""A picture of what layout mode saw: each region boxed in its label's colour, numbered in reading order.

It is the quickest way to tell a detection error (wrong box or label) from a recognition error.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from types import MappingProxyType

from PIL import Image, ImageDraw, ImageFont

from tierocr.document import BBox, Page

_PALETTE = MappingProxyType(
    {
        "text": (46, 134, 222),
        "title": (231, 76, 60),
        "paragraph_title": (231, 76, 60),
        "doc_title": (192, 57, 43),
        "figure": (39, 174, 96),
        "image": (39, 174, 96),
        "chart": (39, 174, 96),
        "figure_caption": (22, 160, 133),
        "table": (142, 68, 173),
        "table_caption": (155, 89, 182),
        "equation": (230, 126, 34),
        "display_formula": (230, 126, 34),
        "header": (127, 140, 141),
        "footer": (127, 140, 141),
        "number": (127, 140, 141),
        "reference": (241, 196, 15),
    }
)


def label_colour(label: str) -> tuple[int, int, int]:
    """The palette colour, or a stable colour derived from the label so unknown labels stay distinct."""
    if label in _PALETTE:
        return _PALETTE[label]
    digest = zlib.crc32(label.encode())
    return (64 + digest % 160, 64 + (digest >> 8) % 160, 64 + (digest >> 16) % 160)


def draw_layout(image: Image.Image, regions: list[tuple[str, BBox]]) -> Image.Image:
    """A copy of ``image`` with ``regions`` (label, box) drawn; the list's order is the reading order."""
    canvas = image.convert("RGB")
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width = max(2, round(min(canvas.size) / 400))
    size = max(12, round(min(canvas.size) / 45))
    font = ImageFont.load_default(size=size)
    for number, (label, box) in enumerate(regions, start=1):
        colour = label_colour(label)
        draw.rectangle(
            (box.x0, box.y0, box.x1, box.y1), fill=(*colour, 40), outline=(*colour, 255), width=width
        )
        tag = f"{number} {label}"
        # The tag sits just above the box's corner where there is room, so it hides no text.
        tag_h = draw.textbbox((0, 0), tag, font=font)[3]
        origin = (box.x0, box.y0 - tag_h - 3) if box.y0 >= tag_h + 3 else (box.x0, box.y0)
        left, top, right, bottom = draw.textbbox(origin, tag, font=font)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(*colour, 230))
        draw.text(origin, tag, fill=(255, 255, 255, 255), font=font)
    return Image.alpha_composite(canvas.convert("RGBA"), overlay).convert("RGB")


def page_regions(page: Page) -> list[tuple[str, BBox]]:
    """(label, box) of a layout-mode page's blocks, in their (reading) order."""
    return [
        (str(block.attributes.get("label", block.kind)), block.bbox)
        for block in page.blocks
        if block.bbox is not None
    ]


def save_layout_png(image: Image.Image, page: Page, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_layout(image, page_regions(page)).save(path, format="PNG")
    return path
