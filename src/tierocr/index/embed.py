"""Text to vectors: a model shipped inside a package by default, a local or remote model if configured.

Every embedder returns float32 rows of unit length, so cosine similarity is a dot product in any store.
Its ``name`` is recorded in the index: vectors of two models are not comparable, and an index opened
with another model is refused rather than searched with nonsense.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np

from tierocr.config import IndexSettings

#: wordllama's dense model: Llama-2 token embeddings trained as a static sentence encoder (MIT).
_WORDLLAMA_CONFIG = "l2_supercat"
_WORDLLAMA_DIM = 256


class EmbeddingError(RuntimeError):
    """The embedder cannot be loaded or did not answer; the message says which and why."""


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class WordLlamaEmbedder:
    """wordllama's 256-d static model from the files inside its wheel; never goes to the network.

    wordllama's own loader looks for the tokenizer in a folder its wheel does not have and then
    downloads it, so the two files are opened here directly. Its vectors are matryoshka-trained: the
    first 64 or 128 dimensions are a smaller model of their own.
    """

    def __init__(self, dim: int = _WORDLLAMA_DIM, batch_size: int = 64) -> None:
        if dim not in (64, 128, 256):
            raise EmbeddingError(f"wordllama: embed_dim must be 64, 128 or 256, not {dim}")
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            import wordllama
            from safetensors import safe_open
            from tokenizers import Tokenizer
            from wordllama.inference import WordLlamaInference
        except ImportError as exc:
            raise EmbeddingError(
                f"the wordllama embedder needs the index extra (pip install 'tierocr[index]'): {exc}"
            ) from exc
        finally:  # wordllama calls logging.basicConfig on import; the application owns logging
            root.handlers[:], root.level = handlers, level
        package = Path(wordllama.__file__).parent
        weights = package / "weights" / f"{_WORDLLAMA_CONFIG}_{_WORDLLAMA_DIM}.safetensors"
        tokenizer = package / "tokenizers" / f"{_WORDLLAMA_CONFIG}_tokenizer_config.json"
        for path in (weights, tokenizer):
            if not path.is_file():
                raise EmbeddingError(f"wordllama: {path} is missing from the installed package")
        with safe_open(str(weights), framework="np") as handle:
            matrix = handle.get_tensor("embedding.weight")[:, :dim]
        self._model = WordLlamaInference(matrix, Tokenizer.from_file(str(tokenizer)))
        self._batch = batch_size
        self.dim = dim
        self.name = f"wordllama:{_WORDLLAMA_CONFIG}:{dim}"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit_rows(self._model.embed(texts, norm=True, batch_size=self._batch))


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder or the local cache (nothing is downloaded)."""

    def __init__(self, model: str, batch_size: int = 64) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                "embedder 'sentence-transformers' needs the sentence-transformers package installed"
            ) from exc
        try:
            self._model: Any = SentenceTransformer(model, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many kinds for a missing or broken model
            raise EmbeddingError(f"sentence-transformers model {model!r} could not be loaded: {exc}") from exc
        self._batch = batch_size
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.name = f"sentence-transformers:{Path(model).name or model}:{self.dim}"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(texts, batch_size=self._batch, normalize_embeddings=True)
        return _unit_rows(vectors)


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {base}/embeddings`` (vLLM, llama.cpp, Ollama, TEI, OpenAI itself).

    The vector size is learnt from the first answer, which is made at construction so that a wrong URL
    or model fails before any document is parsed.
    """

    def __init__(
        self,
        url: str,
        model: str | None,
        *,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = url.rstrip("/")
        self._url = base if base.endswith("/embeddings") else f"{base}/embeddings"
        self._model = model
        self._batch = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)
        self.dim = int(self._request(["dimension probe"]).shape[1])
        self.name = f"openai:{model or 'default'}:{self.dim}"

    def _request(self, texts: list[str]) -> np.ndarray:
        body: dict[str, Any] = {"input": texts, "encoding_format": "float"}
        if self._model:
            body["model"] = self._model
        try:
            response = self._client.post(self._url, json=body)
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.array([item["embedding"] for item in data], dtype=np.float32)
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"embeddings endpoint {self._url}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"embeddings endpoint {self._url}: unexpected answer ({exc})") from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise EmbeddingError(
                f"embeddings endpoint {self._url}: {len(texts)} texts sent, {len(vectors)} vectors back"
            )
        return vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._request(texts[i : i + self._batch]) for i in range(0, len(texts), self._batch)]
        return _unit_rows(np.concatenate(parts))


def create_embedder(settings: IndexSettings) -> Embedder:
    if settings.embedder == "wordllama":
        return WordLlamaEmbedder(settings.embed_dim, settings.embed_batch)
    if settings.embedder == "sentence-transformers":
        if not settings.embed_model:
            raise EmbeddingError("embedder 'sentence-transformers' needs index.embed_model (a model folder)")
        return SentenceTransformerEmbedder(settings.embed_model, settings.embed_batch)
    if not settings.embed_url:
        raise EmbeddingError("embedder 'openai' needs index.embed_url (e.g. http://host:8000/v1)")
    key = settings.embed_api_key.get_secret_value() if settings.embed_api_key else None
    return OpenAIEmbedder(
        settings.embed_url,
        settings.embed_model,
        api_key=key,
        batch_size=settings.embed_batch,
        timeout=settings.embed_timeout_s,
    )
