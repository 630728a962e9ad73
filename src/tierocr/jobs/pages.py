"""One job's pages, each checkpointed as it finishes, through the page step every face shares.

A job resumed after a crash reads only its unfinished pages. A page whose read fails is tried again
after the others (waiting a back-off that doubles, cut short by a cancel), and one out of tries is
kept empty with its error while the rest of the job completes: only a page that itself keeps failing
counts against the tries, never its neighbours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tierocr.batch.output import open_header
from tierocr.batch.work import page_failure, read_pages
from tierocr.config import Settings
from tierocr.document import Document, Page
from tierocr.errors import CancelledError, LimitExceededError
from tierocr.jobs.store import JobRecord, JobStore


def run_job_pages(
    store: JobStore,
    job: JobRecord,
    pipeline: Any,
    settings: Settings,
    cancel: threading.Event,
    *,
    max_pages: int,
    max_attempts: int,
    backoff_s: float,
    on_page: Callable[[Page], None] | None = None,
) -> Document:
    """Read the job's unfinished pages and return its whole document, assembled from the store."""
    path = store.input_path(job.id)
    if store.header(job.id) is None:
        header, selected = open_header(settings.input, path, job.name, job.options.get("pages"))
        if len(selected) > max_pages:
            raise LimitExceededError(
                f"{header.source}: {len(selected)} pages selected, over this server's limit of {max_pages} "
                "per job"
            )
        store.start_pages(job.id, header, selected)
    window = max(1, int(getattr(pipeline, "window", 1)))
    for round_ in range(max_attempts):
        todo = [row.number for row in store.unfinished_pages(job.id)]
        if not todo:
            break
        if round_ and cancel.wait(backoff_s * 2 ** (round_ - 1)):
            raise CancelledError(f"cancelled with {len(todo)} page(s) left to retry")
        for start in range(0, len(todo), window):
            if cancel.is_set():
                raise CancelledError(f"cancelled with {len(todo) - start} page(s) left")
            _read_window(store, job, pipeline, path, todo[start : start + window], max_attempts, on_page)
    return store.document(job.id, float(settings.input.dpi))


def _read_window(
    store: JobStore,
    job: JobRecord,
    pipeline: Any,
    path: Path,
    numbers: list[int],
    max_attempts: int,
    on_page: Callable[[Page], None] | None,
) -> None:
    """Claim a window of pages, read them, escalate them together, checkpoint each."""
    claimed = {n: tries for n in numbers if (tries := store.claim_page(job.id, n)) is not None}
    if not claimed:
        return
    results = []
    try:
        results = list(read_pages(pipeline, path, job.name, sorted(claimed)))
    finally:
        if len(results) < len(claimed):  # the read raised: the pages go back unread
            for number in sorted(claimed)[len(results) :]:
                store.release_page(job.id, number)
    failed = {page.number: reason for page, _ in results if (reason := page_failure(page)) is not None}
    good = [(page, image) for page, image in results if page.number not in failed]
    for page in pipeline.escalate(good) if good else []:
        store.finish_page(job.id, page.number, page)
        if on_page is not None:
            on_page(page)
    for page, _ in results:
        if page.number in failed:
            out_of_tries = claimed[page.number] >= max_attempts
            store.fail_page(job.id, page.number, failed[page.number], dead=page if out_of_tries else None)
