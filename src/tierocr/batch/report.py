"""What a run holds, read from its store: counts by state and tier, the dead-letter list, failed documents."""

from __future__ import annotations

from typing import Any

from tierocr.batch.schema import DocStatus, PageStatus
from tierocr.batch.store import PageStore


def run_report(
    store: PageStore, run_id: str, limit: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(counts, up to ``limit`` dead-letter pages, the failed documents) of one run."""
    docs = store.documents(run_id)
    by_status: dict[str, int] = {}
    for doc in docs:
        by_status[doc.status] = by_status.get(doc.status, 0) + 1
    summary = {"documents": by_status, "pages": store.page_summary([d.id for d in docs])}
    dead: list[dict[str, Any]] = []
    for doc in docs:
        if len(dead) >= limit:
            break
        if not doc.pages_dead:
            continue
        for page in store.pages(doc.id, [PageStatus.DEAD])[: limit - len(dead)]:
            dead.append(
                {"document": doc.name, "page": page.number, "attempts": page.attempts, "error": page.error}
            )
    failed = [
        {"document": d.name, "attempts": d.attempts, "error": d.error}
        for d in docs
        if d.status is DocStatus.FAILED
    ]
    return summary, dead, failed
