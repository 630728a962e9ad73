"""Where the index lives: SQLite (a file, no server) or PostgreSQL with pgvector, behind one class.

Everything but the vector search is the same SQL on both, through SQLAlchemy Core; keyword ranking is
BM25 computed by one query over the shared ``postings`` table, so both give the same keyword hits.
Vectors are searched exactly in SQLite (a matrix product over all chunks, kept in memory while the
index is unchanged: a 100k-chunk archive is 100 MB of float32 and a few milliseconds a query) and by
pgvector's HNSW index in PostgreSQL, which is exact at the sizes the tests use and approximate beyond.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Float, case, create_engine, event, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from tierocr.document import Document, Page
from tierocr.index.records import ChunkRecord, content_hash, load_page, page_hash, page_info, page_json
from tierocr.index.schema import SCHEMA_VERSION, Schema
from tierocr.storage import sqlalchemy_url

_IN_BATCH = 500


class IndexStoreError(RuntimeError):
    """The index cannot be opened or used as asked; the message names the index and the reason."""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    doc_id: str
    source: str
    page_count: int
    source_hash: str | None
    content_hash: str
    chunks: int
    indexed_at: float


def database_url(db: str) -> str:
    """The index's SQLAlchemy URL (see :func:`tierocr.storage.sqlalchemy_url`)."""
    return sqlalchemy_url(db, "index", IndexStoreError)


def _batches(items: Sequence[Any], size: int = _IN_BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class IndexStore:
    """One index database; safe to share between threads (SQLAlchemy pools the connections)."""

    def __init__(self, db: str, *, embedder: str, dim: int) -> None:
        self.label = db
        url = database_url(db)
        self.dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        if self.dialect == "sqlite" and url.startswith("sqlite:///"):
            parent = Path(url.removeprefix("sqlite:///")).parent
            if not parent.is_dir():
                raise IndexStoreError(f"index {db}: folder {parent} does not exist")
        self.schema = Schema(dim)
        self._vectors: tuple[str, np.ndarray, np.ndarray] | None = None
        try:
            self.engine: Engine = create_engine(url, pool_pre_ping=self.dialect == "postgresql")
            if self.dialect == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                self.schema.metadata.create_all(conn)
                if self.dialect == "postgresql":
                    conn.execute(
                        text(
                            "CREATE INDEX IF NOT EXISTS ix_chunk_vectors_hnsw ON chunk_vectors "
                            "USING hnsw (embedding vector_cosine_ops)"
                        )
                    )
                self._check_meta(conn, embedder, dim)
        except SQLAlchemyError as exc:
            raise IndexStoreError(f"index {db}: cannot open: {_reason(exc)}") from exc

    def _check_meta(self, conn: Connection, embedder: str, dim: int) -> None:
        meta = self.schema.index_meta
        stored = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
        wanted = {"schema": SCHEMA_VERSION, "embedder": embedder, "dim": str(dim)}
        if not stored:
            conn.execute(meta.insert(), [{"key": k, "value": v} for k, v in wanted.items()])
            conn.execute(meta.insert(), [{"key": "generation", "value": uuid.uuid4().hex}])
            return
        for key, value in wanted.items():
            if stored.get(key) != value:
                raise IndexStoreError(
                    f"index {self.label} was built with {key} {stored.get(key)!r}, not {value!r}: index into "
                    "a new database, or configure the same embedder (index.embedder, index.embed_dim)"
                )

    def close(self) -> None:
        self.engine.dispose()

    # --- reading -----------------------------------------------------------------------------------

    def document(self, doc_id: str) -> StoredDocument | None:
        docs, chunks = self.schema.documents, self.schema.chunks
        count = select(func.count()).where(chunks.c.doc_id == docs.c.doc_id).scalar_subquery()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    docs.c.doc_id,
                    docs.c.source,
                    docs.c.page_count,
                    docs.c.source_hash,
                    docs.c.content_hash,
                    count,
                    docs.c.indexed_at,
                ).where(docs.c.doc_id == doc_id)
            ).first()
        return None if row is None else StoredDocument(*row)

    def documents(self) -> list[StoredDocument]:
        docs, chunks = self.schema.documents, self.schema.chunks
        count = select(func.count()).where(chunks.c.doc_id == docs.c.doc_id).scalar_subquery()
        columns = (docs.c.doc_id, docs.c.source, docs.c.page_count, docs.c.source_hash, docs.c.content_hash)
        with self.engine.connect() as conn:
            rows = conn.execute(select(*columns, count, docs.c.indexed_at).order_by(docs.c.doc_id)).all()
        return [StoredDocument(*row) for row in rows]

    def stored_pages(self, doc_id: str) -> list[Page]:
        pages = self.schema.pages
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(pages.c.page_json).where(pages.c.doc_id == doc_id).order_by(pages.c.number)
            ).scalars()
            return [load_page(data) for data in rows]

    def vectors_for(self, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks with these texts: unchanged chunks are not embedded again."""
        chunks, vectors = self.schema.chunks, self.schema.chunk_vectors
        found: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for batch in _batches(sorted(set(text_hashes))):
                rows = conn.execute(
                    select(chunks.c.text_hash, vectors.c.embedding)
                    .join(vectors, vectors.c.chunk_id == chunks.c.id)
                    .where(chunks.c.text_hash.in_(batch))
                )
                found.update({h: v for h, v in rows})
        return found

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        chunks, docs = self.schema.chunks, self.schema.documents
        out: dict[int, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for batch in _batches(list(ids)):
                rows = conn.execute(
                    select(chunks, docs.c.source)
                    .join(docs, docs.c.doc_id == chunks.c.doc_id)
                    .where(chunks.c.id.in_(batch))
                ).mappings()
                out.update({row["id"]: dict(row) for row in rows})
        return out

    def stats(self) -> dict[str, Any]:
        s = self.schema
        with self.engine.connect() as conn:
            counts = {
                name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in (("documents", s.documents), ("pages", s.pages), ("chunks", s.chunks))
            }
            meta = dict(conn.execute(select(s.index_meta.c.key, s.index_meta.c.value)).all())
        return {"backend": self.dialect, "embedder": meta.get("embedder"), "dim": int(meta["dim"]), **counts}

    # --- search ------------------------------------------------------------------------------------

    def keyword(self, terms: list[str], k: int, *, k1: float, b: float) -> list[tuple[int, float]]:
        """BM25 (Lucene's idf) over the shared postings: the same numbers in either database."""
        if not terms:
            return []
        s = self.schema
        wanted = Counter(terms)
        with self.engine.connect() as conn:
            ids = dict(
                conn.execute(select(s.terms.c.term, s.terms.c.id).where(s.terms.c.term.in_(wanted))).all()
            )
            if not ids:
                return []
            n_chunks, avgdl = conn.execute(select(func.count(), func.avg(s.chunks.c.n_terms))).one()
            if not n_chunks:
                return []
            df = dict(
                conn.execute(
                    select(s.postings.c.term_id, func.count())
                    .where(s.postings.c.term_id.in_(list(ids.values())))
                    .group_by(s.postings.c.term_id)
                ).all()
            )
            weights = {
                tid: wanted[term] * math.log(1 + (n_chunks - df.get(tid, 0) + 0.5) / (df.get(tid, 0) + 0.5))
                for term, tid in ids.items()
            }
            tf = s.postings.c.tf
            norm = literal(k1, Float) * (
                literal(1.0 - b, Float) + literal(b / float(avgdl or 1.0), Float) * s.postings.c.dl
            )
            idf = case({tid: literal(w, Float) for tid, w in weights.items()}, value=s.postings.c.term_id)
            score = func.sum(idf * tf * literal(k1 + 1.0, Float) / (tf + norm)).label("score")
            rows = conn.execute(
                select(s.postings.c.chunk_id, score)
                .where(s.postings.c.term_id.in_(list(weights)))
                .group_by(s.postings.c.chunk_id)
                .order_by(score.desc(), s.postings.c.chunk_id)
                .limit(k)
            ).all()
        return [(int(cid), float(sc)) for cid, sc in rows]

    def vector(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Chunks by cosine similarity to ``query`` (a unit vector)."""
        if self.dialect == "postgresql":
            return self._vector_pg(query, k)
        _, ids, matrix = self._vector_matrix()
        if not len(ids):
            return []
        scores = matrix @ np.asarray(query, dtype=np.float32)
        top = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def _vector_matrix(self) -> tuple[str, np.ndarray, np.ndarray]:
        meta, vectors = self.schema.index_meta, self.schema.chunk_vectors
        with self.engine.connect() as conn:
            generation = conn.execute(select(meta.c.value).where(meta.c.key == "generation")).scalar_one()
            cached = self._vectors
            if cached is not None and cached[0] == generation:
                return cached
            rows = conn.execute(select(vectors.c.chunk_id, vectors.c.embedding)).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = np.stack([r[1] for r in rows]) if rows else np.zeros((0, self.schema.dim), dtype=np.float32)
        self._vectors = (generation, ids, matrix)
        return self._vectors

    def _vector_pg(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        literal_vector = "[" + ",".join(repr(float(x)) for x in np.asarray(query, dtype=np.float32)) + "]"
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(40, min(k, 1000))}"))
            rows = conn.execute(
                text(
                    "SELECT chunk_id, 1 - (embedding <=> CAST(:q AS vector)) AS score FROM chunk_vectors "
                    "ORDER BY embedding <=> CAST(:q AS vector), chunk_id LIMIT :k"
                ),
                {"q": literal_vector, "k": k},
            ).all()
        return [(int(cid), float(sc)) for cid, sc in rows]

    # --- writing -----------------------------------------------------------------------------------

    def replace_document(
        self,
        doc: Document,
        doc_id: str,
        source_hash: str | None,
        records: list[ChunkRecord],
        vectors: np.ndarray,
        term_counts: list[Counter[str]],
    ) -> None:
        """Everything stored of ``doc_id`` swapped for this reading, in one transaction."""
        s = self.schema
        with self.engine.begin() as conn:
            self._delete(conn, doc_id)
            conn.execute(
                s.documents.insert(),
                {
                    "doc_id": doc_id,
                    "source": doc.source,
                    "mime_type": doc.mime_type,
                    "page_count": doc.page_count,
                    "source_hash": source_hash,
                    "content_hash": content_hash(doc),
                    "indexed_at": time.time(),
                    "doc_metadata": doc.metadata,
                },
            )
            if doc.pages:
                conn.execute(
                    s.pages.insert(),
                    [
                        {
                            "doc_id": doc_id,
                            "number": page.number,
                            "tier": str(page.tier),
                            "accepted": page_info(page).accepted,
                            "score": page_info(page).score,
                            "tier_reason": page.tier_reason,
                            "content_hash": page_hash(page),
                            "page_json": page_json(page),
                        }
                        for page in doc.pages
                    ],
                )
            if records:
                self._insert_chunks(conn, doc_id, records, vectors, term_counts)
            self._bump(conn)

    def _insert_chunks(
        self,
        conn: Connection,
        doc_id: str,
        records: list[ChunkRecord],
        vectors: np.ndarray,
        term_counts: list[Counter[str]],
    ) -> None:
        s = self.schema
        rows = [
            {
                "doc_id": doc_id,
                "seq": r.seq,
                "text": r.text,
                "headings": r.headings,
                "pages": r.pages,
                "page_first": min(r.pages, default=0),
                "page_last": max(r.pages, default=0),
                "spans": r.spans,
                "page_info": [p.model_dump() for p in r.page_info],
                "tier": r.tier,
                "gate": r.gate,
                "text_hash": r.text_hash,
                "n_terms": sum(counts.values()),
            }
            for r, counts in zip(records, term_counts, strict=True)
        ]
        result = conn.execute(s.chunks.insert().returning(s.chunks.c.id, sort_by_parameter_order=True), rows)
        chunk_ids = [row[0] for row in result]
        vector_rows = [{"chunk_id": cid, "embedding": v} for cid, v in zip(chunk_ids, vectors, strict=True)]
        for batch in _batches(vector_rows, 200):
            conn.execute(s.chunk_vectors.insert().values(list(batch)))
        term_ids = self._term_ids(conn, {t for counts in term_counts for t in counts})
        postings = [
            {"term_id": term_ids[term], "chunk_id": cid, "tf": tf, "dl": sum(counts.values())}
            for cid, counts in zip(chunk_ids, term_counts, strict=True)
            for term, tf in counts.items()
        ]
        for batch in _batches(postings, 5000):  # one multi-row INSERT: pg8000 would send row by row
            conn.execute(s.postings.insert().values(list(batch)))

    def _term_ids(self, conn: Connection, terms: set[str]) -> dict[str, int]:
        table = self.schema.terms
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        ordered = sorted(terms)  # one order for every writer: concurrent inserts cannot deadlock
        for batch in _batches(ordered, 5000):
            conn.execute(insert(table).values([{"term": t} for t in batch]).on_conflict_do_nothing())
        ids: dict[str, int] = {}
        for batch in _batches(ordered):
            ids.update(conn.execute(select(table.c.term, table.c.id).where(table.c.term.in_(batch))).all())
        return ids

    def delete_document(self, doc_id: str) -> bool:
        with self.engine.begin() as conn:
            found = self._delete(conn, doc_id)
            if found:
                self._bump(conn)
        return found

    def _delete(self, conn: Connection, doc_id: str) -> bool:
        s = self.schema
        ids = select(s.chunks.c.id).where(s.chunks.c.doc_id == doc_id).scalar_subquery()
        conn.execute(s.postings.delete().where(s.postings.c.chunk_id.in_(ids)))
        conn.execute(s.chunk_vectors.delete().where(s.chunk_vectors.c.chunk_id.in_(ids)))
        conn.execute(s.chunks.delete().where(s.chunks.c.doc_id == doc_id))
        conn.execute(s.pages.delete().where(s.pages.c.doc_id == doc_id))
        return conn.execute(s.documents.delete().where(s.documents.c.doc_id == doc_id)).rowcount > 0

    def _bump(self, conn: Connection) -> None:
        """A new generation: readers holding vectors in memory reload them."""
        meta = self.schema.index_meta
        conn.execute(meta.update().where(meta.c.key == "generation").values(value=uuid.uuid4().hex))


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0]
