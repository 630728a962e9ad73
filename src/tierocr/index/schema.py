"""The index's tables, one definition for SQLite and PostgreSQL.

Only the vector column differs by dialect: a float32 BLOB in SQLite (searched exactly, in memory), a
pgvector ``vector(n)`` with an HNSW index in PostgreSQL. Keyword search uses the ``terms`` and
``postings`` tables that both share, ranked by the same BM25 query.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator, UserDefinedType

SCHEMA_VERSION = "1"


class PgVector(UserDefinedType[Any]):
    """pgvector's ``vector(n)``; values travel as its text form ``[x,y,...]``."""

    cache_ok = True

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def get_col_spec(self, **_: Any) -> str:
        return f"vector({self.dim})"


class Embedding(TypeDecorator[np.ndarray]):
    """A unit vector: BLOB of float32 in SQLite, ``vector(n)`` in PostgreSQL."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PgVector(self.dim))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: np.ndarray | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        vector = np.asarray(value, dtype=np.float32)
        if dialect.name == "postgresql":
            return "[" + ",".join(repr(float(x)) for x in vector) + "]"
        return vector.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, str):
            return np.array([float(x) for x in value.strip("[]").split(",")], dtype=np.float32)
        return np.frombuffer(value, dtype=np.float32)


class Schema:
    """The tables for vectors of ``dim`` dimensions (a MetaData of their own, as the vector type varies)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.metadata = meta = MetaData()
        self.index_meta = Table(
            "index_meta",
            meta,
            Column("key", String(64), primary_key=True),
            Column("value", Text, nullable=False),
        )
        self.documents = Table(
            "documents",
            meta,
            Column("doc_id", String(1024), primary_key=True),
            Column("source", Text, nullable=False),
            Column("mime_type", String(128), nullable=False),
            Column("page_count", Integer, nullable=False),
            Column("source_hash", String(128)),
            Column("content_hash", String(64), nullable=False),
            Column("indexed_at", Float, nullable=False),
            Column("doc_metadata", JSON, nullable=False),
        )
        self.pages = Table(
            "pages",
            meta,
            Column("doc_id", String(1024), ForeignKey("documents.doc_id"), primary_key=True),
            Column("number", Integer, primary_key=True),
            Column("tier", String(32), nullable=False),
            Column("accepted", Boolean),
            Column("score", Float),
            Column("tier_reason", Text),
            Column("content_hash", String(64), nullable=False),
            Column("page_json", LargeBinary, nullable=False, comment="The Page as zlib-compressed JSON."),
        )
        self.chunks = Table(
            "chunks",
            meta,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("doc_id", String(1024), ForeignKey("documents.doc_id"), nullable=False, index=True),
            Column("seq", Integer, nullable=False),
            Column("text", Text, nullable=False),
            Column("headings", JSON, nullable=False),
            Column("pages", JSON, nullable=False),
            Column("page_first", Integer, nullable=False),
            Column("page_last", Integer, nullable=False),
            Column("spans", JSON, nullable=False),
            Column("page_info", JSON, nullable=False),
            Column("tier", String(64), nullable=False),
            Column("gate", String(16), nullable=False),
            Column("text_hash", String(64), nullable=False, index=True),
            Column("n_terms", Integer, nullable=False),
        )
        self.terms = Table(
            "terms",
            meta,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("term", String(256), nullable=False, unique=True),
        )
        self.postings = Table(
            "postings",
            meta,
            Column("term_id", Integer, ForeignKey("terms.id"), primary_key=True),
            Column("chunk_id", Integer, ForeignKey("chunks.id"), primary_key=True),
            Column("tf", Integer, nullable=False),
            Column("dl", Integer, nullable=False, comment="The chunk's n_terms, so BM25 needs no join."),
            Index("ix_postings_chunk", "chunk_id"),
            sqlite_with_rowid=False,  # the primary key is the table: one b-tree per term range
        )
        self.chunk_vectors = Table(
            "chunk_vectors",
            meta,
            Column("chunk_id", Integer, ForeignKey("chunks.id"), primary_key=True),
            Column("embedding", Embedding(dim), nullable=False),
        )
