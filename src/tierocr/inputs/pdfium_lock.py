"""The one door to PDFium: a process-wide re-entrant lock around every pypdfium2 call.

PDFium is not thread-safe: two threads inside it at once, even on different documents, corrupt its heap
(segfaults, ``realloc(): invalid old size``), and the crash takes every request and job of the process
with it. The server's request pool, its job workers, the batch path and page-parallel parsing all open
PDFs from their own threads, so every call that enters PDFium (open, page count and size, page load,
render, text page, page objects, close) goes through this lock.

The lock is held per call, not per document: a page's render or text read holds it for that one call,
so OCR of one page (which never touches PDFium) runs while another thread renders the next. It is
re-entrant so that a helper holding it may call another that takes it too.

pypdfium2 closes forgotten objects from garbage-collector finalizers, which may run in any thread; the
owners of PDFium objects therefore close them explicitly through :func:`close`, under the lock, and
never leave it to the collector. It is module state on purpose: PDFium itself is one per process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pypdfium2 as pdfium
from PIL import Image

T = TypeVar("T")

#: Process-wide because PDFium's state is; an RLock so nested helpers can take it again.
_LOCK = threading.RLock()


@contextmanager
def pdfium_locked() -> Iterator[None]:
    """Hold the PDFium lock for a block of pypdfium2 calls that belong together (one page's text)."""
    with _LOCK:
        yield


def locked(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` under the PDFium lock, for a single pypdfium2 call."""
    with _LOCK:
        return fn(*args, **kwargs)


def open_pdf(data: Path | bytes, password: str | None) -> pdfium.PdfDocument:
    """Open a PDF from a path or bytes; raises pypdfium2's PdfiumError as it would."""
    with _LOCK:
        return pdfium.PdfDocument(data, password=password)


def render(page: pdfium.PdfPage, scale: float, *, grayscale: bool = False) -> Image.Image:
    """The page rasterised at ``scale`` as an image that owns its pixels (the bitmap is freed here)."""
    with _LOCK:
        bitmap = page.render(scale=scale, grayscale=grayscale)
        try:
            image = bitmap.to_pil()
            # Copy out of the bitmap's buffer while it is certainly alive; RGB for colour, L for grey.
            return image.convert("L" if grayscale else "RGB")
        finally:
            bitmap.close()


def close(obj: Any) -> None:
    """Close a pypdfium2 object (document, page, text page) under the lock; None is ignored."""
    if obj is None:
        return
    with _LOCK:
        obj.close()
