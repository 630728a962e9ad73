"""The embedders: the packaged model's vectors, and an OpenAI-compatible endpoint over HTTP."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from tierocr.index.embed import EmbeddingError, OpenAIEmbedder, WordLlamaEmbedder


def test_packaged_model_gives_unit_vectors_that_rank_related_text_first(embedder: WordLlamaEmbedder) -> None:
    vectors = embedder.embed(["bread and yeast", "baking a sourdough loaf", "income tax deduction"])
    assert vectors.shape == (3, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.embed([]).shape == (0, 256)


def test_endpoint_is_called_in_batches_with_model_and_key() -> None:
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"body": body, "auth": request.headers.get("authorization"), "url": str(request.url)})
        data = [{"index": i, "embedding": [float(len(t)), 0.0, 3.0]} for i, t in enumerate(body["input"])]
        return httpx.Response(200, json={"data": list(reversed(data))})

    embedder = OpenAIEmbedder(
        "http://emb.test/v1/", "bge-m3", api_key="k", batch_size=2, transport=httpx.MockTransport(answer)
    )
    vectors = embedder.embed(["a", "bb", "ccc", "dddd", "eeeee"])
    assert (embedder.dim, embedder.name) == (3, "openai:bge-m3:3")
    assert [len(s["body"]["input"]) for s in seen] == [1, 2, 2, 1]  # probe, then batches of 2
    assert {s["url"] for s in seen} == {"http://emb.test/v1/embeddings"}
    assert {s["auth"] for s in seen} == {"Bearer k"} and seen[1]["body"]["model"] == "bge-m3"
    expected = np.array([[n, 0.0, 3.0] for n in range(1, 6)], dtype=np.float32)
    assert np.allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True))


def test_endpoint_answers_that_do_not_fit_are_errors() -> None:
    def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})

    embedder = OpenAIEmbedder("http://emb.test/v1", None, transport=httpx.MockTransport(short))
    with pytest.raises(EmbeddingError, match="2 texts sent, 1 vectors back"):
        embedder.embed(["one", "two"])
    failing = httpx.MockTransport(lambda r: httpx.Response(500, text="boom"))
    with pytest.raises(EmbeddingError, match=r"emb\.test.*500"):
        OpenAIEmbedder("http://emb.test/v1", None, transport=failing)
