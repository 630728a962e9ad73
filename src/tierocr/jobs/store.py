"""Async jobs persisted in SQLite, so a result outlives the process that produced it.

One SQLite file under ``<data_dir>/jobs/``; each job's input is kept beside it under a name we generate
(the job id), never one taken from the request, and is deleted once the job reaches a final state.
Every change is reported to an ``on_change`` callback, so waiters are woken rather than polling.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tierocr.jobs.datadir import storage_error

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    name TEXT NOT NULL,
    options TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    pages_done INTEGER NOT NULL DEFAULT 0,
    page_count INTEGER,
    error TEXT,
    result TEXT
)
"""

_ID = re.compile(r"^[0-9a-f]{32}$")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    status: JobStatus
    name: str
    options: dict[str, Any]
    created_at: float
    updated_at: float
    attempts: int
    pages_done: int
    page_count: int | None
    error: str | None
    result: dict[str, Any] | None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def public(self, *, with_result: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": str(self.status),
            "name": self.name,
            "options": self.options,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "attempts": self.attempts,
            "progress": {"pages_done": self.pages_done, "page_count": self.page_count},
            "error": self.error,
        }
        if with_result:
            out["result"] = self.result
        return out


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        status=JobStatus(row["status"]),
        name=row["name"],
        options=json.loads(row["options"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        attempts=row["attempts"],
        pages_done=row["pages_done"],
        page_count=row["page_count"],
        error=row["error"],
        result=json.loads(row["result"]) if row["result"] is not None else None,
    )


class JobStore:
    """Thread-safe: one connection behind one lock; SQLite does the durability, the lock the ordering."""

    def __init__(self, data_dir: Path, on_change: Callable[[str], None] | None = None) -> None:
        self.root = Path(data_dir) / "jobs"
        self.inputs = self.root / "inputs"
        self.inputs.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            self.root / "jobs.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._on_change = on_change

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @staticmethod
    def valid_id(job_id: str) -> bool:
        return bool(_ID.match(job_id))

    def input_path(self, job_id: str) -> Path:
        if not self.valid_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.inputs / job_id

    def create(self, data: bytes, name: str, options: dict[str, Any]) -> JobRecord:
        """Store the input and queue the job; a write that fails (full disk) leaves nothing behind."""
        job_id = uuid.uuid4().hex
        path = self.input_path(job_id)
        tmp = path.with_suffix(".part")
        try:
            _write_file(tmp, data)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_error("the job's input", exc) from exc
        now = time.time()
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT INTO jobs (id, status, name, options, created_at, updated_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (job_id, JobStatus.QUEUED, name, json.dumps(options), now, now),
                )
        except sqlite3.Error as exc:
            path.unlink(missing_ok=True)
            raise storage_error("the job", exc) from exc
        record = self.get(job_id)
        assert record is not None
        return record

    def get(self, job_id: str) -> JobRecord | None:
        if not self.valid_id(job_id):
            return None
        with self._lock:
            row = self._conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _record(row) if row is not None else None

    def recent(self, limit: int) -> list[JobRecord]:
        """The newest jobs first, without their results (a list must stay cheap however big they are)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, status, name, options, created_at, updated_at, attempts, pages_done, page_count, "
                "error, NULL AS result FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_record(row) for row in rows]

    def _update(self, job_id: str, where_status: tuple[JobStatus, ...] | None = None, **fields: Any) -> bool:
        fields["updated_at"] = time.time()
        assignments = ", ".join(f"{key} = ?" for key in fields)
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?"
        params: list[Any] = [*fields.values(), job_id]
        if where_status:
            sql += f" AND status IN ({','.join('?' * len(where_status))})"
            params.extend(where_status)
        with self._lock:
            changed = self._conn.execute(sql, params).rowcount > 0
        if changed:
            self._notify(job_id)
        return changed

    def mark_running(self, job_id: str) -> bool:
        """Claim a queued job; False if it is no longer queued (cancelled meanwhile)."""
        with self._lock:
            changed = (
                self._conn.execute(
                    "UPDATE jobs SET status = ?, attempts = attempts + 1, pages_done = 0, updated_at = ? "
                    "WHERE id = ? AND status = ?",
                    (JobStatus.RUNNING, time.time(), job_id, JobStatus.QUEUED),
                ).rowcount
                > 0
            )
        if changed:
            self._notify(job_id)
        return changed

    def progress(self, job_id: str, pages_done: int, page_count: int) -> None:
        self._update(job_id, (JobStatus.RUNNING,), pages_done=pages_done, page_count=page_count)

    def succeed(self, job_id: str, result: dict[str, Any]) -> None:
        self._update(job_id, (JobStatus.RUNNING,), status=JobStatus.SUCCEEDED, result=json.dumps(result))
        self._drop_input(job_id)

    def fail(self, job_id: str, error: str) -> None:
        self._update(job_id, (JobStatus.RUNNING, JobStatus.QUEUED), status=JobStatus.FAILED, error=error)
        self._drop_input(job_id)

    def cancel(self, job_id: str) -> bool:
        changed = self._update(
            job_id, (JobStatus.RUNNING, JobStatus.QUEUED), status=JobStatus.CANCELLED, error="cancelled"
        )
        if changed:
            self._drop_input(job_id)
        return changed

    def requeue(self, job_id: str, *, refund_attempt: bool) -> None:
        """Put an interrupted job back; a graceful shutdown refunds the attempt, a crash does not."""
        with self._lock:
            self._conn.execute(
                "UPDATE jobs SET status = ?, pages_done = 0, updated_at = ?, attempts = attempts - ? "
                "WHERE id = ? AND status = ?",
                (JobStatus.QUEUED, time.time(), 1 if refund_attempt else 0, job_id, JobStatus.RUNNING),
            )
        self._notify(job_id)

    def recover(self, max_attempts: int) -> list[str]:
        """After a restart: jobs left running by a dead process are resumed or, out of attempts, failed.

        Returns the ids to enqueue, oldest first: the queued ones and the resumed ones. Partial inputs a
        dead process was writing (``*.part``) are removed: they belong to no job.
        """
        for stale in self.inputs.glob("*.part"):
            stale.unlink(missing_ok=True)
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, status, attempts FROM jobs WHERE status IN (?, ?) ORDER BY created_at",
                (JobStatus.QUEUED, JobStatus.RUNNING),
            ).fetchall()
        resume: list[str] = []
        for row in rows:
            if row["status"] == JobStatus.RUNNING and row["attempts"] >= max_attempts:
                self._update(
                    row["id"],
                    (JobStatus.RUNNING,),
                    status=JobStatus.FAILED,
                    error=f"the server stopped while this job ran, {row['attempts']} time(s); not retried",
                )
                self._drop_input(row["id"])
                continue
            if row["status"] == JobStatus.RUNNING:
                self.requeue(row["id"], refund_attempt=False)
            if not self.input_path(row["id"]).exists():
                self.fail(row["id"], "the job's input file is gone; submit it again")
                continue
            resume.append(row["id"])
        return resume

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        return {row["status"]: row["n"] for row in rows}

    def _notify(self, job_id: str) -> None:
        if self._on_change is not None:
            self._on_change(job_id)

    def _drop_input(self, job_id: str) -> None:
        self.input_path(job_id).unlink(missing_ok=True)


def _write_file(path: Path, data: bytes) -> None:
    """Write and flush to disk, so that a full disk fails here and not later, after the job is queued."""
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
