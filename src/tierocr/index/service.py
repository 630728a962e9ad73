"""The index as callers see it: put documents in (parsed here or already parsed), search, delete.

Indexing is incremental twice over. A file whose bytes and parse settings are those of its stored
version is not parsed again; a parsed document whose pages are unchanged is not written again. When it
is rewritten, chunks whose text is unchanged keep their stored vectors and only new text is embedded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import ValidationError

from tierocr.config import Settings
from tierocr.config.index import SearchMode
from tierocr.document import Document
from tierocr.index.embed import Embedder, create_embedder
from tierocr.index.records import chunk_records, content_hash, is_partial, merge_pages
from tierocr.index.search import Hit, fuse, make_hit
from tierocr.index.store import IndexStore, StoredDocument
from tierocr.index.tokens import term_counts, tokenize

Status = Literal["added", "replaced", "updated", "unchanged"]

#: Parses one file into a Document (the pipeline, or a test's fake).
Parser = Callable[[Path], Document]


@dataclass(frozen=True, slots=True)
class IndexResult:
    doc_id: str
    status: Status
    chunks: int
    embedded: int = 0
    pages: int = 0


def default_db(settings: Settings) -> str:
    """``index.db``, else ``data_dir/index.sqlite`` (the data folder is made on first use)."""
    if settings.index.db:
        return settings.index.db
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return str(settings.data_dir / "index.sqlite")


def parse_fingerprint(settings: Settings) -> str:
    """What about the settings changes a parse; a file re-indexed under other settings is parsed again."""
    relevant = settings.model_dump_json(
        include={"input", "text_layer", "ocr", "layout", "gate", "vlm", "render"},
        exclude={"vlm": {"api_key"}, "input": {"password"}},
    )
    return hashlib.sha256(relevant.encode()).hexdigest()[:16]


def source_hash(data: bytes, settings: Settings) -> str:
    return f"{hashlib.sha256(data).hexdigest()}:{parse_fingerprint(settings)}"


def looks_like_document_json(path: Path) -> bool:
    return path.suffix.lower() == ".json"


class SearchIndex:
    """One index database with its embedder; thread-safe for concurrent searches and writes."""

    def __init__(
        self, settings: Settings, db: str | None = None, *, embedder: Embedder | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder or create_embedder(settings.index)
        self.store = IndexStore(
            db or default_db(settings), embedder=self.embedder.name, dim=self.embedder.dim
        )

    def close(self) -> None:
        self.store.close()

    # --- writing -----------------------------------------------------------------------------------

    def index_file(self, path: Path, parse: Parser, *, doc_id: str | None = None) -> IndexResult:
        """A PDF or image (parsed unless unchanged) or a Document JSON written by `tierocr parse`."""
        data = path.read_bytes()
        if looks_like_document_json(path):
            try:
                doc = Document.from_json(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "top level"
                raise ValueError(f"not a tierocr Document JSON ({where}: {first['msg']})") from exc
            return self.index_document(doc, doc_id=doc_id)
        key = doc_id or str(path)
        digest = source_hash(data, self.settings)
        stored = self.store.document(key)
        if stored is not None and stored.source_hash == digest:
            return IndexResult(key, "unchanged", stored.chunks, pages=stored.page_count)
        return self.index_document(parse(path), doc_id=key, source_digest=digest)

    def index_document(
        self, doc: Document, *, doc_id: str | None = None, source_digest: str | None = None
    ) -> IndexResult:
        """Store ``doc``'s chunks in place of whatever ``doc_id`` (default: its source) had.

        A document holding only some of its pages (a ``--pages`` parse, e.g. the pages a VLM re-read)
        updates those pages of the stored version and leaves the others as they were.
        """
        key = doc_id or doc.source
        stored = self.store.document(key)
        status: Status = "added" if stored is None else "replaced"
        if stored is not None and is_partial(doc):
            doc = merge_pages(self.store.stored_pages(key), doc)
            status = "updated"
            source_digest = None  # the stored version no longer matches any one file's parse
        if stored is not None and stored.content_hash == content_hash(doc):
            return IndexResult(key, "unchanged", stored.chunks, pages=len(doc.pages))
        records = chunk_records(doc, self.settings.render)
        known = self.store.vectors_for(r.text_hash for r in records)
        missing = [r for r in records if r.text_hash not in known]
        fresh = self.embedder.embed([r.embed_text for r in missing])
        known.update({r.text_hash: vec for r, vec in zip(missing, fresh, strict=True)})
        vectors = np.stack([known[r.text_hash] for r in records]) if records else np.zeros((0, 0))
        counts = [term_counts(r.embed_text) for r in records]
        self.store.replace_document(doc, key, source_digest, records, vectors, counts)
        return IndexResult(key, status, len(records), embedded=len(missing), pages=len(doc.pages))

    def delete(self, doc_id: str) -> bool:
        return self.store.delete_document(doc_id)

    def documents(self) -> list[StoredDocument]:
        return self.store.documents()

    # --- searching ---------------------------------------------------------------------------------

    def search(self, query: str, *, mode: SearchMode | None = None, k: int | None = None) -> list[Hit]:
        cfg = self.settings.index
        mode = mode or cfg.search_mode
        k = k or cfg.top_k
        depth = max(k, cfg.candidates)
        rankings: dict[str, list[tuple[int, float]]] = {}
        if mode in ("keyword", "hybrid"):
            rankings["keyword"] = self.store.keyword(
                tokenize(query), depth if mode == "hybrid" else k, k1=cfg.bm25_k1, b=cfg.bm25_b
            )
        if mode in ("vector", "hybrid") and query.strip():
            vector = self.embedder.embed([query])[0]
            rankings["vector"] = self.store.vector(vector, depth if mode == "hybrid" else k)
        weights = {"keyword": 1.0, "vector": cfg.hybrid_vector_weight}
        ranked = fuse(rankings, cfg.rrf_k, weights) if mode == "hybrid" else rankings.get(mode, [])
        ranked = ranked[:k]
        ranks = {
            name: {cid: rank for rank, (cid, _) in enumerate(ranking, start=1)}
            for name, ranking in rankings.items()
        }
        rows = self.store.chunks_by_id([cid for cid, _ in ranked])
        return [
            make_hit(
                rows[cid],
                query,
                score,
                {name: r[cid] for name, r in ranks.items() if cid in r},
                cfg.snippet_chars,
            )
            for cid, score in ranked
            if cid in rows
        ]
