"""Documents in: PDFs and images from a path, bytes or a directory, streamed page by page."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tierocr.config import InputSettings
from tierocr.errors import InputError
from tierocr.inputs.base import LoadedDocument, PageInput, TextLayer, TextLine
from tierocr.inputs.pages import parse_page_range
from tierocr.inputs.sniff import PDF, sniff_mime

#: File name endings picked up when a directory is given.
DOCUMENT_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif"})

__all__ = [
    "DOCUMENT_SUFFIXES",
    "InputError",
    "LoadedDocument",
    "PageInput",
    "TextLayer",
    "TextLine",
    "expand_inputs",
    "open_document",
    "parse_page_range",
]


def open_document(
    source: Path | str | bytes,
    settings: InputSettings,
    *,
    name: str | None = None,
    pages: str | None = None,
    password: str | None = None,
) -> LoadedDocument:
    """Open a PDF or image; the kind is decided from the bytes, the name only labels errors."""
    from tierocr.inputs.images import ImageDocument
    from tierocr.inputs.pdf import PdfDocument

    if isinstance(source, bytes):
        label = name or "<bytes>"
        data: Path | bytes = source
        head = source[:1024]
        size = len(source)
    else:
        path = Path(source)
        label = name or str(path)
        if not path.exists():
            raise InputError(label, "no such file")
        if path.is_dir():
            raise InputError(label, "is a directory (give the files, or use expand_inputs)")
        size = path.stat().st_size
        try:
            with path.open("rb") as fh:
                head = fh.read(1024)
        except OSError as exc:
            raise InputError(label, f"cannot read: {exc.strerror or exc}") from exc
        data = path
    if size == 0:
        raise InputError(label, "empty file")
    if size > settings.max_file_bytes:
        raise InputError(label, f"file is {size} bytes, over the limit of {settings.max_file_bytes}")
    mime = sniff_mime(head)
    if mime is None:
        raise InputError(
            label, "unsupported file type (expected a PDF or a PNG/JPEG/TIFF/WebP/BMP/GIF image)"
        )
    if mime == PDF:
        return PdfDocument(data, label, settings, pages, password)
    return ImageDocument(data, label, mime, settings, pages)


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files to process: files as given, directories expanded (recursively, sorted) to documents inside."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
            )
        else:
            out.append(path)
    return out
