"""Jobs of the first job store (``<data_dir>/jobs/jobs.sqlite3``, one row per job, no pages), carried over.

Once, when a server first opens the page store on a data directory that still has the old file: every
job is copied with its state, options, attempts, error and result, so results submitted before an
upgrade can still be fetched, and jobs that were queued or running run again (their inputs are kept
under the same ids). The old file is then renamed ``jobs.sqlite3.imported``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from tierocr.batch.records import encode_json
from tierocr.batch.schema import API_RUN, DocStatus, documents
from tierocr.batch.store import PageStore

log = logging.getLogger(__name__)

LEGACY_NAME = "jobs.sqlite3"


def import_legacy_jobs(root: Path, store: PageStore) -> int:
    """Copy the old file's jobs into ``store`` (those not there yet); returns how many were copied."""
    old = root / LEGACY_NAME
    if not old.is_file():
        return 0
    conn = sqlite3.connect(old)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()
    except sqlite3.Error as exc:
        log.warning("%s: not a job store this version can read (%s); left as it is", old, exc)
        return 0
    finally:
        conn.close()
    with store.engine.begin() as db:
        known = set(db.execute(select(documents.c.id).where(documents.c.run_id == API_RUN)).scalars())
        new = [_document(row, root) for row in rows if row["id"] not in known]
        if new:
            db.execute(insert(documents), new)
    old.rename(old.with_name(LEGACY_NAME + ".imported"))
    log.info("carried %d job(s) over from %s", len(new), old)
    return len(new)


def _document(row: sqlite3.Row, root: Path) -> dict[str, Any]:
    status = DocStatus(row["status"])
    if status is DocStatus.RUNNING:  # the process that ran it is gone: it runs again
        status = DocStatus.QUEUED
    result = json.loads(row["result"]) if row["result"] is not None else None
    return {
        "id": row["id"],
        "run_id": API_RUN,
        "position": 0,
        "source": str(root / "inputs" / row["id"]),
        "name": row["name"],
        "stem": None,
        "options": row["options"],
        "status": status,
        "page_count": row["page_count"],
        "attempts": row["attempts"],
        "error": row["error"],
        "result": encode_json(result) if result is not None else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
