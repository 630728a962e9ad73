"""The page step: "page N of document D, with this pipeline" → the classical Page (and its image).

Every face that runs pages one by one calls :func:`read_pages`: the batch's local worker processes, its
Ray actors and the HTTP API's job runner. It is the pipeline's own classical path (text layer or OCR,
then the quality gate), so a page read here is the page `tierocr parse` reads. Escalation is left to the
caller, which gathers the rejected pages of all its workers into one window towards the VLM endpoint.

Issue 13's page-parallel machinery (``tierocr.parallel``) has the same seam (its ``read_page``); once
it is merged, :func:`read_pages` is where a worker process hands over to it.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from tierocr.batch.records import failed_page
from tierocr.document import FATAL_STAGES, Page
from tierocr.escalation import plan_escalation
from tierocr.inputs import open_document

if TYPE_CHECKING:
    from tierocr.pipeline import Pipeline

PageResult = tuple[Page, Image.Image | None]


@dataclass(frozen=True, slots=True)
class PageTask:
    """One page for a worker: where to open its document, its label in the output, its number."""

    path: str
    name: str
    number: int


def page_range(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1-3,7"``: the page range that selects exactly these pages."""
    parts: list[str] = []
    ordered = sorted(set(numbers))
    start = prev = ordered[0]
    for number in [*ordered[1:], None]:
        if number is not None and number == prev + 1:
            prev = number
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if number is not None:
            start = prev = number
    return ",".join(parts)


def wants_escalation(pipeline: Any, page: Page) -> bool:
    """Whether the caller's escalation window needs this page's image (kept only then: images are big)."""
    if not getattr(pipeline, "escalating", False):
        return False
    return plan_escalation(page, pipeline.settings).mode != "none"


def read_pages(pipeline: Pipeline, path: Path, name: str, numbers: Sequence[int]) -> Iterator[PageResult]:
    """Pages ``numbers`` of the document at ``path``, through the classical tiers and the gate, in order.

    Opened for just these pages and closed after: a worker holds one page at a time, whatever the
    document's length. The image comes back only for a page the escalation will want. Input errors
    (the file is gone, the range does not fit) raise here; a page that cannot be read comes back as a
    page with a fatal error (:func:`page_failure` says which).
    """
    if not numbers:
        return
    with open_document(path, pipeline.settings.input, name=name, pages=page_range(numbers)) as loaded:
        for page_input in loaded.iter_pages():
            page, image = pipeline.classical_page(page_input, path)
            yield page, image if image is not None and wants_escalation(pipeline, page) else None


def read_page(pipeline: Pipeline, task: PageTask) -> PageResult:
    """One page of a task; a failure to open the document is a failed page, not an exception."""
    try:
        return next(read_pages(pipeline, Path(task.path), task.name, [task.number]))
    except Exception as exc:  # the worker stays up; the caller decides on a retry
        return failed_page(
            task.number, float(pipeline.settings.input.dpi), f"{type(exc).__name__}: {exc}"
        ), None


def page_failure(page: Page) -> str | None:
    """Why the page has no content of its own (it could not be loaded or read), or None."""
    for error in page.errors:
        if error.stage in FATAL_STAGES:
            return error.message
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident memory (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
