"""A scanned page stored turned, every way a document can store it: for the rotation tests and bench.

A page shows turned by ``r`` degrees clockwise when its pixels are turned (an image, or an image-only
PDF), when an upright image PDF says ``/Rotate r``, or both at once (pixels turned a quarter and
``/Rotate`` the rest). Each kind must read as the upright page does.
"""

from __future__ import annotations

import io

from PIL import Image

from tierocr.inputs import pdfium_lock
from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, render_page, scan_of, text_pdf

#: How a turned page is stored: pixels of an image file, pixels of an image-only PDF, an upright image
#: PDF with /Rotate, and pixels turned 90° plus /Rotate for the rest.
KINDS = ("image", "pdf-pixels", "pdf-rotate", "pdf-both")
TURNS = (0, 90, 180, 270)


def turned_scan_page(dpi: int = 150) -> Image.Image:
    """A scan-like page: a title and two paragraphs, blurred, skewed a little and noisy."""
    pdf = text_pdf([[PARAGRAPHS[0], PARAGRAPHS[1]]], title="A page stored turned", footer=False)
    page = render_page(pdf, dpi=dpi)
    return scan_of(page.crop((0, 0, page.width, int(page.height * 0.45))))


def with_rotate(pdf: bytes, rotation: int) -> bytes:
    """The PDF with every page's /Rotate entry set to ``rotation`` (clockwise degrees)."""
    document = pdfium_lock.open_pdf(pdf, None)
    try:
        with pdfium_lock.pdfium_locked():
            for index in range(len(document)):
                page = document[index]
                page.set_rotation(rotation % 360)
                page.close()
            out = io.BytesIO()
            document.save(out)
        return out.getvalue()
    finally:
        pdfium_lock.close(document)


def turn(image: Image.Image, clockwise: int) -> Image.Image:
    return image.rotate(-clockwise, expand=True, fillcolor="white") if clockwise % 360 else image


def stored_turned(page: Image.Image, kind: str, clockwise: int, dpi: int = 150) -> bytes:
    """The bytes of ``page`` stored as ``kind`` so that it shows turned ``clockwise`` degrees."""
    if kind == "image":
        out = io.BytesIO()
        turn(page, clockwise).save(out, format="PNG", dpi=(dpi, dpi))
        return out.getvalue()
    if kind == "pdf-pixels":
        return image_pdf([turn(page, clockwise)], dpi=dpi)
    if kind == "pdf-rotate":
        return with_rotate(image_pdf([page], dpi=dpi), clockwise)
    if kind == "pdf-both":
        return with_rotate(image_pdf([turn(page, 90)], dpi=dpi), clockwise - 90)
    raise ValueError(f"unknown storage kind {kind!r}; choose one of {', '.join(KINDS)}")
