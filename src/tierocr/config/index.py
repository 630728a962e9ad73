"""Settings of the search index: where it lives, how chunks are embedded, how search ranks them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

SearchMode = Literal["keyword", "vector", "hybrid"]


class IndexSettings(BaseModel):
    """`tierocr index` / `tierocr search` and the `/api/index`, `/api/search` endpoints.

    Environment variables name the section then the field: ``TIEROCR_INDEX_DB=postgresql://host/db``.
    """

    db: str | None = Field(
        None,
        description="The index: a SQLite file path (made on first use) or a postgresql:// URL (needs the "
        "pgvector extension); default data_dir/index.sqlite.",
    )
    embedder: Literal["wordllama", "sentence-transformers", "openai"] = Field(
        "wordllama",
        description="wordllama: static word vectors shipped in the wordllama wheel (CPU, no download); "
        "sentence-transformers: a local model folder (embed_model); openai: an OpenAI-compatible "
        "/v1/embeddings endpoint (embed_url).",
    )
    embed_model: str | None = Field(
        None,
        description="sentence-transformers: the model folder or an id already in the local cache; openai: "
        "the model name sent with each request.",
    )
    embed_url: str | None = Field(
        None, description="Base URL of the OpenAI-compatible embeddings endpoint, e.g. http://host:8000/v1."
    )
    embed_api_key: SecretStr | None = Field(None, description="Bearer token for embed_url.")
    embed_dim: int = Field(
        256,
        ge=16,
        description="wordllama: vector size; its matryoshka vectors are cut to this (64, 128 or 256).",
    )
    embed_batch: int = Field(64, ge=1, description="Texts per embedding call.")
    embed_timeout_s: float = Field(60.0, gt=0, description="Longest wait for one embeddings request.")
    search_mode: SearchMode = Field(
        "hybrid", description="Default search: keyword (BM25), vector (cosine), or hybrid (both, fused)."
    )
    top_k: int = Field(10, ge=1, le=1000, description="Hits returned when the caller does not say.")
    candidates: int = Field(
        50, ge=1, description="Hits each mode contributes before hybrid search fuses them (at least k)."
    )
    rrf_k: int = Field(
        10,
        ge=1,
        description="Reciprocal-rank fusion constant: score = Σ weight / (rrf_k + rank). Small values let "
        "each mode's first hits decide (measured on the dev corpus: see docs/search-index.md).",
    )
    hybrid_vector_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Weight of the vector ranking in hybrid search (keyword: 1). The packaged static "
        "embedding ranks exact wording worse than BM25, so it gets half a vote by default.",
    )
    bm25_k1: float = Field(1.2, ge=0.0, description="BM25 term-frequency saturation.")
    bm25_b: float = Field(0.75, ge=0.0, le=1.0, description="BM25 length normalisation.")
    snippet_chars: int = Field(240, ge=40, description="Length of the snippet shown with each hit.")
