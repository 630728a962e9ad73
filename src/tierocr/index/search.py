"""Ranking: keyword (BM25), vector (cosine) and hybrid (reciprocal-rank fusion of the two).

Reciprocal-rank fusion adds ``weight / (rrf_k + rank)`` from each list a chunk appears in. It needs no
calibration between BM25 scores and cosine similarities, which live on unrelated scales, and a chunk
that both rankings place high beats one that only one of them likes.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from tierocr.config.index import SearchMode
from tierocr.index.tokens import tokenize


class Hit(BaseModel):
    doc_id: str
    source: str
    page: int = Field(description="The page the snippet comes from.")
    pages: list[int] = Field(description="Every page the chunk spans.")
    chunk: int = Field(description="The chunk's position in its document.")
    headings: list[str]
    snippet: str
    score: float = Field(description="BM25 (keyword), cosine similarity (vector) or fused RRF (hybrid).")
    ranks: dict[str, int] = Field(default_factory=dict, description="Rank in each mode that found it.")
    tier: str = Field(description="Tier that produced the snippet's page.")
    gate: str = Field(description="The gate's verdict on that page: accepted, rejected or unjudged.")
    bbox: list[float] | None = Field(None, description="Box of the snippet's block on its page.")


def fuse(
    rankings: dict[str, list[tuple[int, float]]], rrf_k: int, weights: dict[str, float] | None = None
) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion; ties broken by chunk id so results are reproducible."""
    fused: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = (weights or {}).get(name, 1.0)
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (rrf_k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def _term_pattern(terms: list[str]) -> re.Pattern[str] | None:
    words = sorted({t for t in terms if t}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


def snippet(text: str, query: str, width: int) -> tuple[str, int]:
    """The ``width``-character window holding the most query terms, and the offset of its best match."""
    flat = " ".join(text.split())
    pattern = _term_pattern(tokenize(query))
    starts = [m.start() for m in pattern.finditer(flat)] if pattern is not None else []
    best, best_count = 0, 0
    for i, start in enumerate(starts):
        count = sum(1 for s in starts[i:] if s < start + width - width // 5)
        if count > best_count:
            best, best_count = start, count
    if len(flat) <= width:
        return flat, _offset_in(text, flat, best)
    begin = max(0, best - width // 5)
    if begin:
        space = flat.find(" ", begin)
        begin = space + 1 if 0 <= space < best else begin
    piece = flat[begin : begin + width]
    if begin + width < len(flat):
        cut = piece.rfind(" ")
        piece = (piece[:cut] if cut > width // 2 else piece) + " …"
    return ("… " if begin else "") + piece, _offset_in(text, flat, best)


def _offset_in(text: str, flat: str, flat_offset: int) -> int:
    """The offset in ``text`` of the character at ``flat_offset`` of its whitespace-collapsed form."""
    words_before = len(flat[:flat_offset].split())
    matches = list(re.finditer(r"\S+", text))
    return matches[words_before].start() if words_before < len(matches) else 0


def make_hit(row: dict[str, Any], query: str, score: float, ranks: dict[str, int], width: int) -> Hit:
    text, offset = snippet(row["text"], query, width)
    spans = row["spans"] or []
    span = next((s for s in reversed(spans) if s["start"] <= offset), spans[0] if spans else None)
    page = span["page"] if span else (row["pages"] or [0])[0]
    info = next((p for p in row["page_info"] or [] if p["number"] == page), None)
    tier, gate = row["tier"], row["gate"]
    if info is not None:  # a chunk spanning pages: the provenance of the page the snippet is on
        tier = info["tier"]
        gate = {True: "accepted", False: "rejected", None: "unjudged"}[info["accepted"]]
    return Hit(
        doc_id=row["doc_id"],
        source=row["source"],
        page=page,
        pages=row["pages"],
        chunk=row["seq"],
        headings=row["headings"],
        snippet=text,
        score=round(score, 6),
        ranks=ranks,
        tier=tier,
        gate=gate,
        bbox=span.get("bbox") if span else None,
    )


MODES: tuple[SearchMode, ...] = ("keyword", "vector", "hybrid")
