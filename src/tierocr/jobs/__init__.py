"""Async jobs for documents too large for one request: each page checkpointed in the batch job store
(SQLite or PostgreSQL), run by a small worker pool."""

from tierocr.jobs.runner import JobRunner
from tierocr.jobs.store import FINAL, JobRecord, JobStatus, JobStore

__all__ = ["FINAL", "JobRecord", "JobRunner", "JobStatus", "JobStore"]
