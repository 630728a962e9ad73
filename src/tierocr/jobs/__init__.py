"""Async jobs for documents too large for one request: persisted in SQLite, run by a small worker pool."""

from tierocr.jobs.runner import JobRunner
from tierocr.jobs.store import FINAL, JobRecord, JobStatus, JobStore

__all__ = ["FINAL", "JobRecord", "JobRunner", "JobStatus", "JobStore"]
