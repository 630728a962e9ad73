"""Chunks for retrieval: heading-aware, bounded in size, each knowing the pages it came from.

A chunk never spans two sections (a heading starts a new one), carries its heading path so a retrieved
passage keeps its context, and is split at paragraph, then sentence, then word boundaries to stay under
the size limit.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from tierocr.config import RenderSettings
from tierocr.document import FURNITURE_KINDS, BBox, BlockKind, Document
from tierocr.render.markdown import render_block

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


class ChunkSpan(BaseModel):
    """Where a piece of a chunk's text came from, so a hit can point at its page and box."""

    start: int = Field(description="Offset of the piece in the chunk's text.")
    page: int
    bbox: BBox | None = None


class Chunk(BaseModel):
    index: int
    text: str
    headings: list[str] = Field(default_factory=list, description="Heading path, outermost first.")
    pages: list[int] = Field(default_factory=list)
    spans: list[ChunkSpan] = Field(default_factory=list, description="Source page and box of each piece.")


def _split_long(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at sentence ends, else at spaces, else hard."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].rstrip())
            sentence = sentence[cut:].lstrip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def chunk_document(doc: Document, settings: RenderSettings) -> list[Chunk]:
    limit = settings.chunk_max_chars
    chunks: list[Chunk] = []
    headings: list[tuple[int, str]] = []
    parts: list[str] = []
    pages: list[int] = []
    boxes: list[BBox | None] = []

    def flush() -> None:
        if parts:
            starts = [sum(len(p) + 2 for p in parts[:i]) for i in range(len(parts))]
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text="\n\n".join(parts),
                    headings=[text for _, text in headings],
                    pages=sorted(set(pages)),
                    spans=[
                        ChunkSpan(start=start, page=page, bbox=box)
                        for start, page, box in zip(starts, pages, boxes, strict=True)
                    ],
                )
            )
        parts.clear()
        pages.clear()
        boxes.clear()

    for page in doc.pages:
        for block in page.blocks:
            if block.kind in FURNITURE_KINDS:
                continue
            rendered = render_block(block)
            if not rendered:
                continue
            if block.kind in (BlockKind.HEADING, BlockKind.TITLE):
                flush()
                level = block.level or 1
                headings = [(lvl, text) for lvl, text in headings if lvl < level]
                headings.append((level, " ".join(block.text.split())))
                continue
            for piece in _split_long(rendered, limit):
                if parts and sum(len(p) + 2 for p in parts) + len(piece) > limit:
                    flush()
                parts.append(piece)
                pages.append(page.number)
                boxes.append(block.bbox)
    flush()
    return chunks
