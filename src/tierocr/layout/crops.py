"""Crop images of figures, tables and formulas, written under ``imgs/`` with names safe on any system.

Names are built only from the page number, the region's position in reading order and its label, never
from document text, so nothing in a document can steer where a file is written.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from tierocr.document import BBox

CROPS_DIR = "imgs"
_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def safe_name(stem: str, page: int, index: int, label: str) -> str:
    """``<stem>-p003-r07-figure_caption.png``: lower-case ASCII, no separators, no leading dot."""
    clean_stem = _UNSAFE.sub("_", stem.lower()).strip("_-") or "doc"
    clean_label = _UNSAFE.sub("_", label.lower()).strip("_-") or "region"
    return f"{clean_stem[:60]}-p{page:03d}-r{index:02d}-{clean_label[:40]}.png"


def crop(image: Image.Image, box: BBox) -> Image.Image:
    """The region's pixels, clamped to the image and never empty."""
    x0 = min(max(int(box.x0), 0), image.width - 1)
    y0 = min(max(int(box.y0), 0), image.height - 1)
    x1 = max(min(round(box.x1), image.width), x0 + 1)
    y1 = max(min(round(box.y1), image.height), y0 + 1)
    return image.crop((x0, y0, x1, y1))


def save_crop(image: Image.Image, output_dir: Path, name: str) -> str:
    """Write the crop to ``output_dir/imgs/name``; returns the path relative to ``output_dir``
    (what Markdown links to)."""
    if Path(name).name != name or name.startswith("."):
        raise ValueError(f"unsafe crop name {name!r}")
    folder = output_dir / CROPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    image.save(folder / name, format="PNG")
    return f"{CROPS_DIR}/{name}"
