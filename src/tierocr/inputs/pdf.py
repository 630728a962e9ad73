"""PDF input through pypdfium2 (Apache/BSD): pages rendered on demand, text layer read per page."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from tierocr.config import InputSettings
from tierocr.errors import InputError
from tierocr.inputs import pdfium_lock
from tierocr.inputs.base import FailedPageInput, LoadedDocument, PageInput, TextLayer
from tierocr.inputs.pages import parse_page_range
from tierocr.inputs.sniff import PDF
from tierocr.inputs.textlayer import extract_text_layer, measure_image_coverage


class PdfPageInput(PageInput):
    """A PDF page; its PDFium handle, raster and text layer are produced only when asked for.

    The pipeline releases each page once done with it so memory stays flat over long documents; a page
    touched again after that simply reopens its handle, so holding on to pages is safe, only dearer.
    Every PDFium call goes through :mod:`tierocr.inputs.pdfium_lock`, one call at a time per process.
    """

    def __init__(self, pdf: pdfium.PdfDocument, number: int, settings: InputSettings, source: str) -> None:
        self._pdf = pdf
        self.number = number
        width_pt, height_pt = pdfium_lock.locked(pdf.get_page_size, number - 1)
        max_pixels = settings.max_image_pixels
        # A poster-sized page at 200 dpi is tens of megapixels that OCR would shrink again anyway.
        dpi = min(float(settings.dpi), settings.max_page_side * 72.0 / max(width_pt, height_pt, 1.0))
        self.dpi = round(dpi, 2)
        self._scale = self.dpi / 72.0
        self._height_pt = height_pt
        self.width = round(width_pt * self._scale)
        self.height = round(height_pt * self._scale)
        if self.width * self.height > max_pixels:
            raise InputError(
                source,
                f"page {number} would render to {self.width}x{self.height} px at {self.dpi:g} dpi, "
                f"over the limit of {max_pixels} pixels",
            )
        self._page: pdfium.PdfPage | None = None
        self._image: Image.Image | None = None
        self._text_layer: TextLayer | None = None
        self._text_read = False

    @property
    def pdf_page(self) -> pdfium.PdfPage:
        """The PDFium page, for stages that read vector content (tables from ruling lines)."""
        if self._page is None:
            self._page = pdfium_lock.locked(self._pdf.get_page, self.number - 1)
        return self._page

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            self._image = pdfium_lock.render(self.pdf_page, self._scale)
        return self._image

    @property
    def text_layer(self) -> TextLayer | None:
        if not self._text_read:
            self._text_read = True
            layer = extract_text_layer(self.pdf_page, self._scale, self._height_pt)
            if layer.char_count:
                measure_image_coverage(self.pdf_page, layer, self._scale)
            self._text_layer = layer
        return self._text_layer

    def release(self) -> None:
        self._image = None
        page, self._page = getattr(self, "_page", None), None
        pdfium_lock.close(page)

    def __del__(self) -> None:
        # A page dropped without release() must not be closed by pypdfium2's finalizer, outside the lock.
        self.release()


class PdfDocument(LoadedDocument):
    def __init__(
        self,
        data: Path | bytes,
        name: str,
        settings: InputSettings,
        pages: str | None,
        password: str | None = None,
    ) -> None:
        self.name = name
        self.mime_type = PDF
        self._settings = settings
        password = password if password is not None else settings.password
        self._pdf: pdfium.PdfDocument | None = None
        try:
            self._pdf = pdfium_lock.open_pdf(data, password)
        except pdfium.PdfiumError as exc:
            raise InputError(name, _explain_pdfium_error(exc, password)) from exc
        self.page_count = pdfium_lock.locked(len, self._pdf)
        if self.page_count == 0:
            self.close()
            raise InputError(name, "the PDF has no pages")
        try:
            self.selected = parse_page_range(pages, self.page_count)
        except ValueError as exc:
            self.close()
            raise InputError(name, str(exc)) from exc

    def page_inputs(self, numbers: Iterable[int] | None = None) -> Iterator[PageInput]:
        if self._pdf is None:
            raise InputError(self.name, "the document was closed")
        for number in self.selected if numbers is None else numbers:
            # One unreadable or oversized page must not cost the rest of the document.
            try:
                page_input: PageInput = PdfPageInput(self._pdf, number, self._settings, self.name)
            except InputError as exc:
                page_input = FailedPageInput(number, self._settings.dpi, exc.reason)
            except pdfium.PdfiumError as exc:
                page_input = FailedPageInput(number, self._settings.dpi, f"page cannot be read: {exc}")
            yield page_input

    def close(self) -> None:
        pdf, self._pdf = getattr(self, "_pdf", None), None
        pdfium_lock.close(pdf)

    def __del__(self) -> None:
        # A document never closed is closed here, under the lock, not by a finalizer in some other thread.
        self.close()


def _explain_pdfium_error(exc: pdfium.PdfiumError, password: str | None) -> str:
    message = str(exc)
    if "password" in message.lower():
        if password:
            return "the PDF is encrypted and the password given is wrong"
        return "the PDF is encrypted: give its password (--password / TIEROCR_INPUT_PASSWORD)"
    if "format" in message.lower() or "corrupt" in message.lower():
        return "not a readable PDF (corrupt or truncated)"
    return f"PDFium could not open it: {message}"
