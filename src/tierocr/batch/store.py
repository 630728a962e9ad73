"""The page-checkpointed job store: SQLite (a file, no server) or PostgreSQL, through SQLAlchemy Core.

This module holds the store itself, its runs and its documents; the page steps (claim, finish, fail,
recover) are :mod:`tierocr.batch.steps`.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit survives the process being killed, and a
power cut can only lose the last commits (those pages are read again, never twice).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, case, create_engine, event, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from tierocr.batch.locks import RunLock, acquire_run_lock
from tierocr.batch.records import (
    DocRecord,
    NewDocument,
    RunRecord,
    StoreError,
    decode_json,
    encode_json,
    store_url,
)
from tierocr.batch.schema import (
    PAGE_FINAL,
    SCHEMA_VERSION,
    DocStatus,
    PageStatus,
    documents,
    metadata,
    pages,
    runs,
    store_meta,
)
from tierocr.batch.steps import PageSteps
from tierocr.document import Document

_IN_BATCH = 500


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0]


class PageStore(PageSteps):
    """One job store; safe to share between threads (SQLAlchemy pools the connections)."""

    def __init__(self, db: str) -> None:
        self.label = db
        url = store_url(db)
        self.dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        self.path: Path | None = None
        if self.dialect == "sqlite" and url.startswith("sqlite:///"):
            self.path = Path(url.removeprefix("sqlite:///"))
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"job store {db}: cannot make {self.path.parent}: {exc.strerror}") from exc
        try:
            self.engine: Engine = create_engine(url, pool_pre_ping=self.dialect == "postgresql")
            if self.dialect == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            with self.engine.begin() as conn:
                metadata.create_all(conn)
                self._check_schema(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"job store {db}: cannot open: {_reason(exc)}") from exc

    def _check_schema(self, conn: Connection) -> None:
        stored = conn.execute(select(store_meta.c.value).where(store_meta.c.key == "schema")).scalar()
        if stored is None:
            conn.execute(insert(store_meta).values(key="schema", value=SCHEMA_VERSION))
        elif stored != SCHEMA_VERSION:
            raise StoreError(
                f"job store {self.label} has schema {stored}, this tierocr reads {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self.engine.dispose()

    def lock_run(self, run_id: str) -> RunLock:
        """Hold ``run_id`` for this process: a second process on the same run is refused, not let in."""
        return acquire_run_lock(self, run_id)

    # --- runs ------------------------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            return None
        return RunRecord(row.id, row.output, json.loads(row.options), json.loads(row.fingerprint))

    def save_run(
        self, run_id: str, output: str, options: dict[str, Any], fingerprint: dict[str, str]
    ) -> None:
        now = time.time()
        values = {"output": output, "options": json.dumps(options), "fingerprint": json.dumps(fingerprint)}
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(runs).where(runs.c.id == run_id).values(**values, updated_at=now)
            ).rowcount
            if not changed:
                conn.execute(insert(runs).values(id=run_id, **values, created_at=now, updated_at=now))

    # --- documents -------------------------------------------------------------------------------------

    def add_documents(self, run_id: str, new: Sequence[NewDocument]) -> int:
        """Queue documents not yet in the store (by id); returns how many were new."""
        if not new:
            return 0
        now = time.time()
        added = 0
        with self.engine.begin() as conn:
            for start in range(0, len(new), _IN_BATCH):
                chunk = new[start : start + _IN_BATCH]
                known = set(
                    conn.execute(
                        select(documents.c.id).where(documents.c.id.in_([d.id for d in chunk]))
                    ).scalars()
                )
                rows = [
                    {
                        "id": d.id,
                        "run_id": run_id,
                        "position": d.position,
                        "source": d.source,
                        "name": d.name,
                        "stem": d.stem,
                        "options": json.dumps(d.options),
                        "status": DocStatus.QUEUED,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for d in chunk
                    if d.id not in known
                ]
                if rows:
                    conn.execute(insert(documents), rows)
                added += len(rows)
        return added

    def _doc_query(self) -> Any:
        counts = (
            select(
                pages.c.doc_id,
                func.count().label("total"),
                func.sum(case((pages.c.status.in_(list(PAGE_FINAL)), 1), else_=0)).label("finished"),
                func.sum(case((pages.c.status == PageStatus.DEAD, 1), else_=0)).label("dead"),
            )
            .group_by(pages.c.doc_id)
            .subquery()
        )
        columns = [c for c in documents.c if c.name not in ("header", "result")]
        return select(*columns, counts.c.total, counts.c.finished, counts.c.dead).outerjoin(
            counts, counts.c.doc_id == documents.c.id
        )

    @staticmethod
    def _doc(row: Any) -> DocRecord:
        return DocRecord(
            id=row.id,
            run_id=row.run_id,
            position=row.position,
            source=row.source,
            name=row.name,
            stem=row.stem,
            options=json.loads(row.options),
            status=DocStatus(row.status),
            page_count=row.page_count,
            attempts=row.attempts,
            error=row.error,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pages_total=int(row.total or 0),
            pages_finished=int(row.finished or 0),
            pages_dead=int(row.dead or 0),
        )

    def document(self, doc_id: str) -> DocRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._doc_query().where(documents.c.id == doc_id)).first()
        return None if row is None else self._doc(row)

    def documents(
        self,
        run_id: str,
        *,
        statuses: Sequence[DocStatus] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[DocRecord]:
        query = self._doc_query().where(documents.c.run_id == run_id)
        if statuses:
            query = query.where(documents.c.status.in_(list(statuses)))
        if newest_first:
            query = query.order_by(documents.c.created_at.desc(), documents.c.id)
        else:
            query = query.order_by(documents.c.position, documents.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [self._doc(row) for row in conn.execute(query)]

    def update_document(
        self, doc_id: str, *, where: Sequence[DocStatus] | None = None, **fields: Any
    ) -> bool:
        """Set fields of a document, only while it is in one of ``where`` when given; True if it was.

        ``result`` is stored as compressed JSON; ``refund_attempt=True`` gives back one counted start.
        """
        if fields.get("result") is not None:
            fields["result"] = encode_json(fields["result"])
        if fields.pop("refund_attempt", False):
            fields["attempts"] = documents.c.attempts - 1
        query = update(documents).where(documents.c.id == doc_id)
        if where:
            query = query.where(documents.c.status.in_(list(where)))
        with self.engine.begin() as conn:
            return conn.execute(query.values(**fields, updated_at=time.time())).rowcount > 0

    def count_documents(self, run_id: str) -> dict[str, int]:
        query = (
            select(documents.c.status, func.count())
            .where(documents.c.run_id == run_id)
            .group_by(documents.c.status)
        )
        with self.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(query)}

    def claim_document(self, doc_id: str) -> bool:
        """A queued document becomes running, its start counted; False if it is not queued."""
        query = (
            update(documents)
            .where(documents.c.id == doc_id, documents.c.status == DocStatus.QUEUED)
            .values(status=DocStatus.RUNNING, attempts=documents.c.attempts + 1, updated_at=time.time())
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0

    def document_result(self, doc_id: str) -> Any:
        with self.engine.connect() as conn:
            blob = conn.execute(select(documents.c.result).where(documents.c.id == doc_id)).scalar()
        return None if blob is None else decode_json(blob)

    def header(self, doc_id: str) -> Document | None:
        with self.engine.connect() as conn:
            raw = conn.execute(select(documents.c.header).where(documents.c.id == doc_id)).scalar()
        return None if raw is None else Document.model_validate_json(raw)
