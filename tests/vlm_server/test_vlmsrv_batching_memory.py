"""Dynamic batching, per-row limits inside a batch, and unloading: through HTTP and the app's own counters."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlm_server_helpers import Hooks, RunningServer, png_data_uri, settings_for, start_server


def body(max_tokens: int, **extra: Any) -> dict[str, Any]:
    content = [{"type": "image_url", "image_url": {"url": png_data_uri()}}, {"type": "text", "text": "OCR"}]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, **extra}


async def _concurrently(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))


def test_concurrent_requests_share_generate_calls_and_keep_their_own_limits(server: RunningServer) -> None:
    stats = server.state.batcher.stats
    calls_before, requests_before = stats.generate_calls, stats.requests
    # Different lengths and sampling settings in one batch: each row must still end at its own max_tokens.
    bodies = [body(3 + i, temperature=0.0 if i % 2 else 0.8, top_p=0.9) for i in range(6)]
    responses = asyncio.run(_concurrently(server.url, bodies))
    assert [r.status_code for r in responses] == [200] * 6
    assert [r.json()["usage"]["completion_tokens"] for r in responses] == [3 + i for i in range(6)]
    assert all(r.json()["choices"][0]["finish_reason"] == "length" for r in responses)
    assert stats.requests - requests_before == 6
    assert stats.generate_calls - calls_before < 6
    assert max(stats.sizes) > 1


def test_a_batch_never_exceeds_max_batch_size(tiny_model: Path) -> None:
    running, stop = start_server(settings_for(tiny_model, max_batch_size=2, max_wait_ms=200), Hooks())
    try:
        responses = asyncio.run(_concurrently(running.url, [body(2) for _ in range(5)]))
        sizes = running.state.batcher.stats.sizes
    finally:
        stop()
    assert [r.status_code for r in responses] == [200] * 5
    assert max(sizes) == 2
    assert sum(size * n for size, n in sizes.items()) == 5


def test_greedy_answers_do_not_depend_on_batch_company(server: RunningServer) -> None:
    alone = httpx.post(f"{server.url}/v1/chat/completions", json=body(6), timeout=120).json()
    together = asyncio.run(_concurrently(server.url, [body(6), body(6, temperature=1.0), body(6)]))
    text = alone["choices"][0]["message"]["content"]
    assert together[0].json()["choices"][0]["message"]["content"] == text
    assert together[2].json()["choices"][0]["message"]["content"] == text


def test_idle_model_is_unloaded_and_reloaded_on_demand(tiny_model: Path) -> None:
    hooks = Hooks()
    running, stop = start_server(settings_for(tiny_model, idle_unload_s=0.3), hooks)
    try:
        with running.client() as c:
            assert c.post("/v1/chat/completions", json=body(2)).status_code == 200
            assert hooks.closed.wait(timeout=30), "the idle model was never unloaded"
            idle = c.get("/health").json()
            assert c.post("/v1/chat/completions", json=body(2)).status_code == 200
            again = c.get("/health").json()
    finally:
        stop()
    # Unloading dropped the last reference: the first model's weights are gone, not just hidden.
    gc.collect()
    assert hooks.weights[0]() is None
    assert idle["model_loaded"] is False
    assert idle["memory_used_mb"] == 0
    assert idle["unloads"] == 1
    assert again["model_loaded"] is True and again["memory_used_mb"] > 0
    assert again["loads"] == 2
    assert hooks.leases.count("load") == 2


def test_shutdown_unloads_the_model(tiny_model: Path) -> None:
    hooks = Hooks()
    running, stop = start_server(settings_for(tiny_model), hooks)
    with running.client() as c:
        assert c.post("/v1/chat/completions", json=body(2)).status_code == 200
    assert not hooks.closed.is_set()
    stop()
    assert hooks.closed.is_set()
    assert running.state.manager.loaded is False


def test_a_model_that_cannot_load_answers_503(tmp_path: Path) -> None:
    running, stop = start_server(settings_for(tmp_path / "missing"), Hooks())
    try:
        with running.client() as c:
            r = c.post("/v1/chat/completions", json=body(2))
            health = c.get("/health").json()
    finally:
        stop()
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "model_load_failed"
    assert health["model_loaded"] is False


def test_tierocr_escalation_client_works_unchanged(server: RunningServer) -> None:
    """Issue 3's OpenAI client, with its GLM-OCR defaults and sampling extras, against this server."""
    vlm = pytest.importorskip("tierocr.engines.vlm")
    from PIL import Image

    from tierocr.config import load_settings
    from tierocr.engines.vlm_profiles import Task

    settings = load_settings(
        vlm={"url": f"{server.url}/v1", "model": "zai-org/tiny-paddleocr-vl", "max_tokens": 6}
    )

    async def read() -> Any:
        async with vlm.VlmClient(settings.vlm) as client:
            payload = client.build_payload(
                vlm.encode_image(Image.new("RGB", (80, 30), "white"), "png", 512, 90), Task.TEXT
            )
            return await client.complete(payload)

    answer = asyncio.run(read())
    assert answer.text
    assert answer.finish_reason == "length"
    assert answer.model == "tiny-paddleocr-vl"
