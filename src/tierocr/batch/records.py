"""What the job store reads and writes: its records, and pages as compressed JSON."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from tierocr.batch.schema import DocStatus, PageStatus
from tierocr.document import Page, PageError, Tier
from tierocr.errors import TierOcrError
from tierocr.storage import sqlalchemy_url


class StoreError(TierOcrError):
    """The job store cannot be opened or used; the message names the store and the reason."""


def store_url(db: str) -> str:
    """The job store's SQLAlchemy URL (see :func:`tierocr.storage.sqlalchemy_url`)."""
    return sqlalchemy_url(db, "job store", StoreError)


def encode_page(page: Page) -> bytes:
    return zlib.compress(page.model_dump_json().encode("utf-8"), 3)


def decode_page(blob: bytes) -> Page:
    return Page.model_validate_json(zlib.decompress(blob))


def encode_json(value: Any) -> bytes:
    return zlib.compress(json.dumps(value).encode("utf-8"), 3)


def decode_json(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    output: str
    options: dict[str, Any]
    fingerprint: dict[str, str]


@dataclass(frozen=True, slots=True)
class NewDocument:
    id: str
    source: str
    name: str
    options: dict[str, Any]
    position: int = 0
    stem: str | None = None


@dataclass(frozen=True, slots=True)
class DocRecord:
    id: str
    run_id: str
    position: int
    source: str
    name: str
    stem: str | None
    options: dict[str, Any]
    status: DocStatus
    page_count: int | None
    attempts: int
    error: str | None
    created_at: float
    updated_at: float
    #: Page rows (the selected pages, once the document was opened), finished ones, dead ones.
    pages_total: int
    pages_finished: int
    pages_dead: int


@dataclass(frozen=True, slots=True)
class PageRecord:
    doc_id: str
    number: int
    status: PageStatus
    attempts: int
    not_before: float
    error: str | None
    tier: str | None
    escalated: bool
    seconds: float | None


def failed_page(number: int, dpi: float, reason: str) -> Page:
    """A page kept empty and marked, for a page whose worker died or whose tries ran out."""
    page = Page(number=number, width=0.0, height=0.0, dpi=dpi, tier=Tier.NONE, tier_reason=reason)
    page.errors.append(PageError(stage="ocr", message=reason))
    return page
