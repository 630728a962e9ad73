"""What the index stores of a parsed document: its pages and its retrieval chunks with provenance.

A chunk knows the tier that produced each of its pages and the gate's verdict on them, so a caller can
tell a VLM-read passage from a classical one. Pages are kept too (as JSON): a later parse of only some
pages (say, the pages the VLM re-read) is merged into them and the whole document is chunked again, so
an escalated page replaces its classical text and no chunk of the old reading stays behind.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

from pydantic import BaseModel, Field

from tierocr.config import RenderSettings
from tierocr.document import Document, Page
from tierocr.render.chunks import chunk_document


class PageInfo(BaseModel):
    number: int
    tier: str
    accepted: bool | None = Field(None, description="The gate's verdict; None when the page was not judged.")
    score: float | None = None


class ChunkRecord(BaseModel):
    seq: int
    text: str
    headings: list[str]
    pages: list[int]
    spans: list[dict[str, Any]] = Field(description="Start offset, page and box of each piece of the text.")
    page_info: list[PageInfo]
    tier: str = Field(description="Tier of its pages, '+'-joined when they differ (e.g. 'ocr+vlm').")
    gate: str = Field(description="accepted, rejected (any page rejected) or unjudged.")

    @property
    def embed_text(self) -> str:
        """What is embedded and keyword-indexed: the heading path gives a passage its topic."""
        return "\n".join([*self.headings, self.text]) if self.headings else self.text

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()


def page_info(page: Page) -> PageInfo:
    verdict = page.quality
    return PageInfo(
        number=page.number,
        tier=str(page.tier),
        accepted=None if verdict is None else verdict.accepted,
        score=None if verdict is None else verdict.score,
    )


def page_hash(page: Page) -> str:
    """Content of a page as far as the index cares: timings and diagnostics left out."""
    payload = page.model_dump_json(include={"number", "tier", "blocks", "quality", "rotation"})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def content_hash(doc: Document) -> str:
    digest = hashlib.sha256(f"{doc.source}\0{doc.page_count}".encode())
    for page in sorted(doc.pages, key=lambda p: p.number):
        digest.update(page_hash(page).encode())
    return digest.hexdigest()


def is_partial(doc: Document) -> bool:
    """A parse of some pages only (``--pages``), which updates those pages of a stored document."""
    return {p.number for p in doc.pages} != set(range(1, doc.page_count + 1))


def merge_pages(stored: list[Page], update: Document) -> Document:
    """``update``'s pages replacing the same-numbered stored ones; pages past its page count dropped."""
    pages = {p.number: p for p in stored if p.number <= update.page_count}
    pages.update({p.number: p for p in update.pages})
    return update.model_copy(update={"pages": [pages[n] for n in sorted(pages)]})


def chunk_records(doc: Document, settings: RenderSettings) -> list[ChunkRecord]:
    infos = {p.number: page_info(p) for p in doc.pages}
    records: list[ChunkRecord] = []
    for chunk in chunk_document(doc, settings):
        pages = [infos[n] for n in chunk.pages if n in infos]
        tiers = list(dict.fromkeys(p.tier for p in pages))
        verdicts = [p.accepted for p in pages]
        gate = (
            "rejected"
            if any(v is False for v in verdicts)
            else ("accepted" if verdicts and all(v is True for v in verdicts) else "unjudged")
        )
        records.append(
            ChunkRecord(
                seq=chunk.index,
                text=chunk.text,
                headings=chunk.headings,
                pages=chunk.pages,
                spans=[
                    {
                        "start": s.start,
                        "page": s.page,
                        "bbox": None
                        if s.bbox is None
                        else [round(v, 1) for v in (s.bbox.x0, s.bbox.y0, s.bbox.x1, s.bbox.y1)],
                    }
                    for s in chunk.spans
                ],
                page_info=pages,
                tier="+".join(tiers) or "none",
                gate=gate,
            )
        )
    return records


def page_json(page: Page) -> bytes:
    """The page as stored: JSON without timings, zlib-compressed (a third of the size)."""
    return zlib.compress(page.model_dump_json(exclude={"timings"}).encode("utf-8"), 6)


def load_page(data: bytes) -> Page:
    return Page.model_validate(json.loads(zlib.decompress(data)))
