"""pdfplumber pages of one PDF, read from documents opened once per run rather than once per use.

Layout mode reads a born-digital page's words and ruling lines through pdfplumber. Opening the PDF for
every page, and again for every table on it, re-read its cross-reference table, its fonts and its whole
page tree each time: work that grows with the document's length, so on a 1,000-page PDF each page cost
more than a second before anything was read. Here the page workers share a few opened documents: a worker
borrows one only while pdfminer parses its page (the one step that reads the file); the parsed page is
then plain data, read by the page's region threads together. An opened document is retired after it has
parsed a number of pages, because pdfminer keeps every object it resolved: memory stays bounded whatever
the document's length.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Pages one opened document parses before it is retired (its object cache dropped with it).
REOPEN_AFTER = 64


class _Opened:
    """One pdfplumber document and how many pages it has parsed."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.parsed = 0


class PdfPages:
    """The pdfplumber pages of the PDF at ``path``; safe to use from several threads at once."""

    def __init__(self, path: Path, password: str | None = None, *, reopen_after: int = REOPEN_AFTER) -> None:
        self.path = path
        self._password = password or ""
        self._reopen_after = max(1, reopen_after)
        self._lock = threading.Lock()
        self._idle: list[_Opened] = []
        self._handed: dict[int, LazyPdfPage] = {}
        self._closed = False
        #: Documents opened so far (for tests and the benchmark: it stays far below the page count).
        self.opened = 0

    def page(self, index: int) -> LazyPdfPage:
        """The page at 0-based ``index``, parsed on its first use; the same object until released."""
        with self._lock:
            page = self._handed.get(index)
            if page is None:
                page = self._handed[index] = LazyPdfPage(self, index)
            return page

    def release(self, index: int) -> None:
        """Drop the page's parsed objects once its page is done."""
        with self._lock:
            page = self._handed.pop(index, None)
        if page is not None:
            page.release()

    def _parse(self, index: int) -> Any:
        """The pdfplumber page with its objects parsed, read through a borrowed document."""
        with self._lock:
            opened = self._idle.pop() if self._idle else None
        if opened is None:
            import pdfplumber

            opened = _Opened(pdfplumber.open(self.path, password=self._password))
            with self._lock:
                self.opened += 1
        try:
            page = opened.document.pages[index]
            _ = page.objects  # the parse: the only step that reads the file
        except BaseException:
            _retire(opened)
            raise
        opened.parsed += 1
        with self._lock:
            if opened.parsed < self._reopen_after and not self._closed:
                self._idle.append(opened)
                opened = None
        if opened is not None:
            _retire(opened)
        return page

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            handed, self._handed = list(self._handed.values()), {}
            self._closed = True
        for page in handed:
            page.release()
        for opened in idle:
            _retire(opened)


def _retire(opened: _Opened) -> None:
    """Close the document's file; pages it already parsed keep their objects (they need no file)."""
    stream = getattr(opened.document, "stream", None)
    if stream is not None and not getattr(opened.document, "stream_is_external", False):
        stream.close()


class LazyPdfPage:
    """A pdfplumber page, parsed by whichever thread uses it first; what layout mode's table finder and
    word reader take as ``pdf_page`` (they need ``find_tables`` to know it for a pdfplumber page)."""

    def __init__(self, pages: PdfPages, index: int) -> None:
        self._pages = pages
        self.index = index
        self._lock = threading.Lock()
        self._page: Any = None

    def _parsed(self) -> Any:
        with self._lock:
            if self._page is None:
                self._page = self._pages._parse(self.index)
            return self._page

    def find_tables(self, *args: Any, **kwargs: Any) -> Any:
        return self._parsed().find_tables(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._parsed(), name)

    @property
    def parsed(self) -> bool:
        return self._page is not None

    def release(self) -> None:
        """Drop the parsed objects once the page is done (the document keeps only its page tree)."""
        with self._lock:
            page, self._page = self._page, None
        if page is not None:
            page.close()
