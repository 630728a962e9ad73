"""The page steps of the job store: a document's page rows, each claimed, finished or failed once.

Every page is a durable step with two writes: its *claim* (``pending`` → ``running``, the try counted)
and its *end* (``done`` with the Page, or a failure: back to ``pending`` after a back-off, or ``dead``
once out of tries). Both are conditional updates, so a page is finished once whatever happens around
it, and a run killed at any instant restarts from its rows: finished pages are read back, claimed ones
that never finished are tried again (the try counted, so a page that kills its process every time ends
in the dead-letter list instead of in a crash loop).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, and_, case, func, insert, select, update

from tierocr.batch.records import PageRecord, decode_page, encode_page, failed_page
from tierocr.batch.schema import PAGE_FINAL, PageStatus, documents, pages
from tierocr.document import Document, Page, Tier

_IN_BATCH = 500


def _escalated(page: Page) -> bool:
    return page.tier is Tier.VLM or any(error.stage == "vlm" for error in page.errors)


class PageSteps:
    """The page-level half of :class:`~tierocr.batch.store.PageStore` (which provides ``engine``)."""

    engine: Engine

    def start_document(self, doc_id: str, header: Document, selected: Sequence[int]) -> None:
        """Record the opened document's header and its pages (once: a resumed document keeps its rows)."""
        now = time.time()
        with self.engine.begin() as conn:
            has_pages = conn.execute(select(pages.c.number).where(pages.c.doc_id == doc_id).limit(1)).first()
            if has_pages is None:
                rows = [
                    {
                        "doc_id": doc_id,
                        "number": number,
                        "status": PageStatus.PENDING,
                        "attempts": 0,
                        "not_before": 0.0,
                        "escalated": False,
                        "updated_at": now,
                    }
                    for number in selected
                ]
                for start in range(0, len(rows), _IN_BATCH):
                    conn.execute(insert(pages), rows[start : start + _IN_BATCH])
                conn.execute(
                    update(documents)
                    .where(documents.c.id == doc_id)
                    .values(header=header.model_dump_json(), page_count=header.page_count, updated_at=now)
                )

    # --- pages -----------------------------------------------------------------------------------------

    def pages(self, doc_id: str, statuses: Sequence[PageStatus] | None = None) -> list[PageRecord]:
        query = select(*(c for c in pages.c if c.name != "result")).where(pages.c.doc_id == doc_id)
        if statuses:
            query = query.where(pages.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(pages.c.number)).all()
        return [
            PageRecord(
                r.doc_id,
                r.number,
                PageStatus(r.status),
                r.attempts,
                r.not_before,
                r.error,
                r.tier,
                r.escalated,
                r.seconds,
            )
            for r in rows
        ]

    def claim_page(self, doc_id: str, number: int) -> int | None:
        """Mark a pending page running and count the try; its tries so far, or None if it was not pending."""
        query = (
            update(pages)
            .where(pages.c.doc_id == doc_id, pages.c.number == number, pages.c.status == PageStatus.PENDING)
            .values(status=PageStatus.RUNNING, attempts=pages.c.attempts + 1, updated_at=time.time())
            .returning(pages.c.attempts)
        )
        with self.engine.begin() as conn:
            attempts = conn.execute(query).scalar()
        return None if attempts is None else int(attempts)

    def finish_page(self, doc_id: str, number: int, page: Page) -> bool:
        """Checkpoint a finished page; False if it was not running (finished already, or reset)."""
        seconds = page.timings.get("total")
        query = (
            update(pages)
            .where(pages.c.doc_id == doc_id, pages.c.number == number, pages.c.status == PageStatus.RUNNING)
            .values(
                status=PageStatus.DONE,
                result=encode_page(page),
                tier=page.tier.value,
                escalated=_escalated(page),
                seconds=seconds,
                error=None,
                updated_at=time.time(),
            )
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    def fail_page(
        self, doc_id: str, number: int, error: str, *, retry_at: float | None, page: Page | None = None
    ) -> bool:
        """A try failed: the page waits for ``retry_at``, or (None) goes to the dead-letter list, keeping
        ``page`` (the failed read, which the document shows with its error)."""
        values: dict[str, Any] = {"error": error, "updated_at": time.time()}
        if retry_at is None:
            values |= {"status": PageStatus.DEAD, "tier": Tier.NONE.value}
            if page is not None:
                values["result"] = encode_page(page)
        else:
            values |= {"status": PageStatus.PENDING, "not_before": retry_at}
        query = (
            update(pages)
            .where(pages.c.doc_id == doc_id, pages.c.number == number, pages.c.status == PageStatus.RUNNING)
            .values(**values)
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    def release_page(self, doc_id: str, number: int) -> bool:
        """A claimed page given back unread (a clean stop): pending again, its try not counted."""
        query = (
            update(pages)
            .where(pages.c.doc_id == doc_id, pages.c.number == number, pages.c.status == PageStatus.RUNNING)
            .values(status=PageStatus.PENDING, attempts=pages.c.attempts - 1, updated_at=time.time())
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    def recover_pages(self, doc_ids: Sequence[str], max_attempts: int) -> tuple[int, int]:
        """Pages a dead process left running: tried again, or dead once they used ``max_attempts``.

        Returns (pages put back, pages sent to the dead-letter list).
        """
        back = dead = 0
        now = time.time()
        with self.engine.begin() as conn:
            for start in range(0, len(doc_ids), _IN_BATCH):
                ids = list(doc_ids[start : start + _IN_BATCH])
                running = and_(pages.c.doc_id.in_(ids), pages.c.status == PageStatus.RUNNING)
                stuck = conn.execute(
                    select(pages.c.doc_id, pages.c.number, pages.c.attempts).where(running)
                ).all()
                for doc_id, number, attempts in stuck:
                    key = and_(pages.c.doc_id == doc_id, pages.c.number == number)
                    if attempts >= max_attempts:
                        error = f"the process stopped while this page was being read, {attempts} time(s)"
                        values: dict[str, Any] = {"status": PageStatus.DEAD, "tier": Tier.NONE.value}
                        values["error"] = error
                        dead += 1
                    else:
                        values = {"status": PageStatus.PENDING}
                        back += 1
                    conn.execute(update(pages).where(key).values(**values, updated_at=now))
        return back, dead

    def retry_dead(self, doc_ids: Sequence[str]) -> int:
        """Dead pages of these documents get a fresh set of tries; returns how many."""
        total = 0
        with self.engine.begin() as conn:
            for start in range(0, len(doc_ids), _IN_BATCH):
                ids = list(doc_ids[start : start + _IN_BATCH])
                total += conn.execute(
                    update(pages)
                    .where(pages.c.doc_id.in_(ids), pages.c.status == PageStatus.DEAD)
                    .values(
                        status=PageStatus.PENDING,
                        attempts=0,
                        not_before=0.0,
                        result=None,
                        tier=None,
                        updated_at=time.time(),
                    )
                ).rowcount
        return total

    def page_results(self, doc_id: str, dpi: float) -> Iterator[Page]:
        """Every page of a document in page order, read a few at a time (memory stays flat); a dead page
        without a stored read comes back empty, with its error."""
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(pages.c.number, pages.c.result, pages.c.error)
                    .where(pages.c.doc_id == doc_id, pages.c.number > last)
                    .order_by(pages.c.number)
                    .limit(64)
                ).all()
            if not rows:
                return
            for number, blob, error in rows:
                last = number
                yield decode_page(blob) if blob is not None else failed_page(number, dpi, error or "not read")

    def page_summary(self, doc_ids: Sequence[str]) -> dict[str, Any]:
        """Counts over these documents' pages: by status, by tier (finished pages), escalated, seconds."""
        out: dict[str, Any] = {"status": {}, "tiers": {}, "escalated": 0, "seconds": 0.0}
        with self.engine.connect() as conn:
            for start in range(0, max(len(doc_ids), 1), _IN_BATCH):
                ids = list(doc_ids[start : start + _IN_BATCH])
                where = pages.c.doc_id.in_(ids)
                for status, n in conn.execute(
                    select(pages.c.status, func.count()).where(where).group_by(pages.c.status)
                ):
                    out["status"][status] = out["status"].get(status, 0) + n
                for tier, n, escalated, seconds in conn.execute(
                    select(
                        pages.c.tier,
                        func.count(),
                        func.sum(case((pages.c.escalated, 1), else_=0)),
                        func.sum(pages.c.seconds),
                    )
                    .where(where, pages.c.status.in_(list(PAGE_FINAL)))
                    .group_by(pages.c.tier)
                ):
                    out["tiers"][tier] = out["tiers"].get(tier, 0) + n
                    out["escalated"] += int(escalated or 0)
                    out["seconds"] += float(seconds or 0.0)
        return out
