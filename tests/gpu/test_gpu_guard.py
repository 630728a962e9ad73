"""The guard proxy: a burst of LLM requests through it never overlaps an OCR holder in another process, and
streaming answers pass through event by event."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from gpu_lease_helpers import FakeLLM, contend, serve_asgi

from tierocr.config import GpuSettings
from tierocr.gpu import create_lease
from tierocr.gpu.audit import cross_overlaps, read_intervals
from tierocr.gpu.guard import build_guard

BURST = 8


async def _burst(url: str, wave: int) -> list[tuple[int, str]]:
    async def one(client: httpx.AsyncClient, i: int) -> tuple[int, str]:
        body = {"id": f"{wave}-{i}", "model": "fake", "stream": i % 2 == 0, "messages": []}
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            text = "".join([chunk async for chunk in response.aiter_text()])
            return response.status_code, text

    async with httpx.AsyncClient(timeout=60) as client:
        return list(await asyncio.gather(*(one(client, i) for i in range(BURST))))


def _check_answers(answers: list[tuple[int, str]], wave: int) -> None:
    for i, (status, text) in enumerate(answers):
        assert status == 200, text
        if i % 2 == 0:
            events = [json.loads(e[6:]) for e in text.split("\n\n") if e.startswith("data: {")]
            assert [e["i"] for e in events] == [0, 1, 2, 3]
            assert {e["id"] for e in events} == {f"{wave}-{i}"}
            assert text.endswith("data: [DONE]\n\n")
        else:
            assert json.loads(text)["id"] == f"{wave}-{i}"


def test_guarded_burst_never_overlaps_ocr(backend: dict[str, Any], lease_name: str, tmp_path: Path) -> None:
    settings = GpuSettings(**backend)
    upstream = FakeLLM()
    ctx = mp.get_context("spawn")
    go, stop, notify = ctx.Event(), ctx.Event(), ctx.Queue()
    log = tmp_path / "ocr.log"
    ocr = ctx.Process(target=contend, args=(backend, lease_name, str(log), 500, 0.003, 7, go, stop, notify))
    ocr.start()
    try:
        with (
            serve_asgi(upstream) as llm_url,
            serve_asgi(build_guard(llm_url, create_lease(lease_name, settings), settings)) as guard_url,
        ):
            go.set()
            notify.get(timeout=30)  # OCR work is under way before the first wave
            _check_answers(asyncio.run(_burst(guard_url, 1)), 1)
            notify.get(timeout=30)  # and took the lease again between the waves
            _check_answers(asyncio.run(_burst(guard_url, 2)), 2)
    finally:
        stop.set()
        ocr.join(60)
    assert ocr.exitcode == 0
    ocr_holds = [(i.start_ns, i.end_ns) for i in read_intervals(log)]
    assert len(upstream.intervals) == 2 * BURST
    assert len(ocr_holds) >= 2
    assert cross_overlaps(upstream.intervals, ocr_holds) == 0


def test_stream_passes_event_by_event(tmp_path: Path, lease_name: str) -> None:
    """The upstream withholds the rest of its answer until the client has seen the first event, so a proxy
    that buffered the response would deadlock (and the gate times out) instead of passing."""
    settings = GpuSettings(backend="file", lock_dir=tmp_path)
    gate = threading.Event()
    upstream = FakeLLM(gate=gate)
    with (
        serve_asgi(upstream) as llm_url,
        serve_asgi(build_guard(llm_url, create_lease(lease_name, settings), settings)) as url,
    ):
        body = {"stream": True, "id": "s"}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line)
            gate.set()
            rest = [line for line in lines if line]
    assert json.loads(first[6:])["i"] == 0
    assert not upstream.gate_timed_out
    assert [json.loads(line[6:])["i"] for line in rest[:-1]] == [1, 2, 3]
    assert rest[-1] == "data: [DONE]"


def test_guard_answers_503_when_ocr_keeps_the_gpu(tmp_path: Path, lease_name: str) -> None:
    settings = GpuSettings(backend="file", lock_dir=tmp_path, acquire_timeout_s=0.3)
    upstream = FakeLLM()
    ocr = create_lease(lease_name, settings)
    with (
        serve_asgi(upstream) as llm_url,
        serve_asgi(build_guard(llm_url, create_lease(lease_name, settings), settings)) as url,
    ):
        with ocr.acquire():
            busy = httpx.post(f"{url}/v1/chat/completions", json={"id": "x"}, timeout=30)
            models = httpx.get(f"{url}/v1/models?x=1", timeout=30)  # reads pass without the lease
        after = httpx.post(f"{url}/v1/chat/completions", json={"id": "y"}, timeout=30)
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "5"
    assert models.status_code == 200
    assert models.json()["query"] == "x=1"
    assert after.status_code == 200
    assert after.json()["id"] == "y"
    assert len(upstream.intervals) == 1


def test_unreachable_upstream_is_a_502(tmp_path: Path, lease_name: str) -> None:
    settings = GpuSettings(backend="file", lock_dir=tmp_path)
    lease = create_lease(lease_name, settings)
    with serve_asgi(build_guard("http://127.0.0.1:9", lease, settings)) as url:
        answer = httpx.post(f"{url}/v1/chat/completions", json={}, timeout=30)
    assert answer.status_code == 502
    assert lease.status().holder is None


@pytest.mark.parametrize("size_mb", [2])
def test_oversized_body_is_refused(tmp_path: Path, lease_name: str, size_mb: int) -> None:
    settings = GpuSettings(backend="file", lock_dir=tmp_path, guard_max_body_mb=1)
    upstream = FakeLLM()
    with serve_asgi(upstream) as llm_url, serve_asgi(build_guard(llm_url, None, settings)) as url:
        answer = httpx.post(f"{url}/v1/chat/completions", content=b"x" * size_mb * 1024 * 1024, timeout=30)
    assert answer.status_code == 413
    assert upstream.intervals == []


def test_client_hanging_up_mid_stream_frees_the_lease(tmp_path: Path, lease_name: str) -> None:
    """The upstream stalls after its first event; the client reads it and hangs up. The guard must stop the
    upstream request and give the lease back rather than hold the GPU for an answer nobody reads."""
    settings = GpuSettings(backend="file", lock_dir=tmp_path)
    gate = threading.Event()
    upstream = FakeLLM(gate=gate)
    ocr = create_lease(lease_name, settings)
    guard = build_guard("http://unused", create_lease(lease_name, settings), settings)
    with serve_asgi(upstream) as llm_url, serve_asgi(guard) as url:
        guard.upstream = llm_url
        try:
            with httpx.stream(
                "POST", f"{url}/v1/chat/completions", json={"stream": True}, timeout=60
            ) as answer:
                lines = answer.iter_lines()  # kept: dropping the iterator would close the stream early
                first = next(line for line in lines if line)
                during = ocr.status().holder
            with ocr.acquire(timeout=10) as hold:  # LeaseTimeout if the guard kept the lease (gate: 20 s)
                token = hold.token
        finally:
            gate.set()  # let the stalled upstream handler end so its server can stop
    assert json.loads(first[6:])["i"] == 0
    assert during is not None  # the guard held the lease while the answer streamed
    assert token == during.token + 1
