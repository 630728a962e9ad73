"""Synthetic documents with known text, for the sample, the tests and the benchmarks.

Generated rather than shipped so that each test states exactly what the page says, and so that a
300-page PDF costs no space in the repository. Needs reportlab (BSD), part of the dev extra.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageFilter

PARAGRAPHS = (
    "Tiered document parsing reads each page through the cheapest path that reads it right. A page "
    "with a usable text layer is taken from the PDF itself, which is exact and fast.",
    "Scanned pages have no text layer, so they are rendered and read by a classical OCR engine on the "
    "CPU. Only pages that a quality gate rejects go on to a vision-language model.",
    "The result of every tier is written into one schema of documents, pages and blocks, so an "
    "escalated page replaces a classical one without the renderers noticing.",
)


def _canvas(buffer: io.BytesIO, encrypt: str | None = None):  # type: ignore[no-untyped-def]
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    return canvas.Canvas(buffer, pagesize=letter, encrypt=encrypt), letter


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def _draw_page(c, paragraphs: Sequence[str], *, title: str | None, columns: int, number: int | None) -> None:  # type: ignore[no-untyped-def]
    """Draw one page of wrapped paragraphs (one or two columns) and an optional page-number footer."""
    width, height = c._pagesize
    margin, gutter = 72.0, 24.0
    col_width = (width - 2 * margin - (columns - 1) * gutter) / columns
    chars_per_line = int(col_width / 5.6)
    y = height - margin
    if title:
        c.setFont("Helvetica-Bold", 20)
        c.drawString(margin, y, title)
        y -= 40
    c.setFont("Helvetica", 11)
    col, top = 0, y
    for paragraph in paragraphs:
        for line in _wrap(paragraph, chars_per_line):
            if y < margin + 20:
                col, y = col + 1, top
            if col >= columns:
                break
            c.drawString(margin + col * (col_width + gutter), y, line)
            y -= 14
        y -= 10
    if number is not None:
        c.setFont("Helvetica", 9)
        c.drawString(width / 2, margin / 2, str(number))
    c.showPage()


def text_pdf(
    pages: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    columns: int = 1,
    encrypt: str | None = None,
    footer: bool = True,
) -> bytes:
    """A born-digital PDF: each page holds the given paragraphs, in one or two columns."""
    buffer = io.BytesIO()
    c, _ = _canvas(buffer, encrypt)
    for number, paragraphs in enumerate(pages, start=1):
        _draw_page(
            c,
            paragraphs,
            title=title if number == 1 else None,
            columns=columns,
            number=number if footer else None,
        )
    c.save()
    return buffer.getvalue()


def render_page(pdf_bytes: bytes, index: int = 0, dpi: int = 200) -> Image.Image:
    from tierocr.inputs import pdfium_lock

    pdf = pdfium_lock.open_pdf(pdf_bytes, None)
    page = None
    try:
        page = pdfium_lock.locked(pdf.get_page, index)
        return pdfium_lock.render(page, dpi / 72)
    finally:
        pdfium_lock.close(page)
        pdfium_lock.close(pdf)


def scan_of(image: Image.Image, *, angle: float = 0.6) -> Image.Image:
    """Make a clean rendering look scanned: slight skew, blur, grey paper and sensor noise."""
    scanned = image.convert("L").rotate(angle, expand=False, fillcolor=255, resample=Image.Resampling.BICUBIC)
    scanned = scanned.filter(ImageFilter.GaussianBlur(0.6))
    scanned = Image.eval(scanned, lambda v: int(v * 0.9) + 10)
    noise = Image.effect_noise(scanned.size, 12)
    return Image.blend(scanned, noise, 0.08).convert("RGB")


def image_pdf(images: Sequence[Image.Image], dpi: int = 200) -> bytes:
    """A PDF of image-only pages (no text layer), as a scanner writes it."""
    buffer = io.BytesIO()
    first, *rest = images
    first.save(buffer, format="PDF", resolution=dpi, save_all=True, append_images=list(rest))
    return buffer.getvalue()


def sample_pdf() -> bytes:
    """The bundled demo: page 1 born-digital with a title, page 2 a scan of a page with no text layer."""
    from reportlab.lib.utils import ImageReader

    scan_source = text_pdf([[PARAGRAPHS[1], PARAGRAPHS[2]]], title="A scanned page", footer=False)
    scanned = scan_of(render_page(scan_source, dpi=200))
    buffer = io.BytesIO()
    c, (width, height) = _canvas(buffer)
    _draw_page(c, PARAGRAPHS, title="tierocr sample document", columns=1, number=1)
    jpeg = io.BytesIO()
    scanned.convert("L").save(jpeg, format="JPEG", quality=75)
    jpeg.seek(0)
    c.drawImage(ImageReader(jpeg), 0, 0, width=width, height=height)
    c.showPage()
    c.save()
    return buffer.getvalue()


def write_sample(path: Path) -> Path:
    path.write_bytes(sample_pdf())
    return path


if __name__ == "__main__":
    from tierocr.samples import SAMPLE_PDF

    print(write_sample(SAMPLE_PDF))
