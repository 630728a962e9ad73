"""Pages in parallel: a bounded, ordered run of documents through the classical tiers on every core.

:class:`~tierocr.parallel.runner.PageRunner` keeps ``pipeline.workers`` pages in work (threads that share
one set of models, or worker processes with their own), across the pages of a document and across the
documents of one call, delivers them in order, and holds at most ``pipeline.max_pages_in_flight`` pages
at a time. PDFium stays behind its process-wide lock (one call at a time), so one page renders while
others are read by the models.
"""

from tierocr.parallel.runner import (
    DocumentDone,
    DocumentFailed,
    DocumentStarted,
    PageDone,
    PageRunner,
    RunEvent,
    Source,
    document_header,
)

__all__ = [
    "DocumentDone",
    "DocumentFailed",
    "DocumentStarted",
    "PageDone",
    "PageRunner",
    "RunEvent",
    "Source",
    "document_header",
]
