"""The job store's tables, one definition for SQLite and PostgreSQL.

A *run* is one `tierocr batch` output folder (or the HTTP API's jobs, run ``api``); a *document* is one
input of a run (a batch file, an API job); a *page* is the durable step: its row is written when it is
claimed (so a page that kills its worker is known and counted) and when it finishes, with the finished
Page as zlib-compressed JSON. Documents are assembled from their page rows, never kept in memory.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = "1"

#: The run that holds the HTTP API's async jobs.
API_RUN = "api"


class DocStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


DOC_FINAL = frozenset({DocStatus.SUCCEEDED, DocStatus.FAILED, DocStatus.CANCELLED})


class PageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    #: Out of tries: the dead-letter list. The row keeps the error and the failed page, which the
    #: document shows as an empty page with its error, as `tierocr parse` would.
    DEAD = "dead"


PAGE_FINAL = frozenset({PageStatus.DONE, PageStatus.DEAD})

metadata = MetaData()

store_meta = Table(
    "tierocr_store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "tierocr_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("output", Text, nullable=False),
    #: The command's options (format, layout, engine...), so that `retry-failed` reruns with them.
    Column("options", Text, nullable=False),
    #: A hash per settings section that changes page results: a resume with other settings is refused.
    Column("fingerprint", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

documents = Table(
    "tierocr_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    #: Where the document is opened (an absolute path).
    Column("source", Text, nullable=False),
    #: Its label in the output (Document.source), as it was named when first queued.
    Column("name", Text, nullable=False),
    #: Output path under the run's folder, without suffix (batch documents only).
    Column("stem", Text),
    Column("options", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("page_count", Integer),
    #: The Document without its pages, JSON, recorded when the document is first opened.
    Column("header", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    #: What an API job answers once done (zlib JSON); batch documents are written to files instead.
    Column("result", LargeBinary),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_tierocr_documents_run", "run_id", "position"),
)

pages = Table(
    "tierocr_pages",
    metadata,
    Column("doc_id", String(64), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    #: Tries started (claims): a crash while the page was read counts, so a page that kills its
    #: worker every time ends in the dead-letter list instead of crashing runs forever.
    Column("attempts", Integer, nullable=False, default=0),
    #: A page waiting for its retry is not handed out before this time (epoch seconds).
    Column("not_before", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("result", LargeBinary),
    Column("tier", String(16)),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("seconds", Float),
    Column("updated_at", Float, nullable=False),
    PrimaryKeyConstraint("doc_id", "number"),
    Index("ix_tierocr_pages_status", "doc_id", "status"),
)
