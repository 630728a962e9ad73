"""A fault-injecting OpenAI-compatible chat server on 127.0.0.1, for tests and the escalation benchmark.

It speaks real HTTP (Starlette under uvicorn, in a thread with its own event loop), so the client's
pooling, timeouts and retries meet the same sockets they meet in production. Each request takes the next
behaviour from a script (FIFO); when the script is empty it answers well, by task prompt. ``capacity``
and ``latency`` model a server with a fixed number of parallel slots (excess requests queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

GOOD_PAGE = """# Quarterly report

Revenue grew in every region.

- North: steady
- South: improving

| Region | Q1 | Q2 |
|---|---|---|
| North | 10 | 12 |
| South | 7 | 9 |

$$
E = mc^2
$$
"""
GOOD_TABLE = "<table><tr><th>Region</th><th>Q1</th></tr><tr><td>North</td><td>10</td></tr></table>"
GOOD_FORMULA = "$$\\frac{a}{b} = c$$"
GOOD_TEXT = "The quick brown fox jumps over the lazy dog."
LOOP_UNIT = "| 1 | 2 | 3 |\n"


@dataclass(frozen=True)
class Behaviour:
    """One scripted reaction: ``kind`` is ok | text | status | slow | loop | malformed | drip | endless."""

    kind: str
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    text: str = ""


def ok() -> Behaviour:
    return Behaviour("ok")


def text(answer: str) -> Behaviour:
    return Behaviour("text", text=answer)


def status(code: int, retry_after: str | None = None) -> Behaviour:
    return Behaviour("status", status=code, retry_after=retry_after)


def slow(delay: float) -> Behaviour:
    return Behaviour("slow", delay=delay)


def loop() -> Behaviour:
    return Behaviour("loop")


def malformed() -> Behaviour:
    return Behaviour("malformed")


def drip(delay: float = 0.1) -> Behaviour:
    """Headers at once, then the body one byte per ``delay`` (60 bytes): no single read waits long."""
    return Behaviour("drip", delay=delay)


def endless() -> Behaviour:
    """A 200 whose body streams 64 KiB chunks with no end in sight (64 MiB, then it stops)."""
    return Behaviour("endless")


def answer_for(payload: dict[str, Any]) -> str:
    """The good answer for a request, chosen by its task prompt (no prompt: a whole page)."""
    prompt = ""
    for message in payload.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            prompt += " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    if "Table" in prompt or "Chart" in prompt:
        return GOOD_TABLE
    if "Formula" in prompt:
        return GOOD_FORMULA
    return GOOD_PAGE


class FakeVlm:
    """Use as a context manager; ``url`` is the base URL to put in ``vlm.url``."""

    def __init__(self, *, capacity: int | None = None, latency: float = 0.0) -> None:
        self.capacity = capacity
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.client_ports: set[int] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._slots: asyncio.Semaphore | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def __enter__(self) -> FakeVlm:
        self._thread.start()
        if not self._ready.wait(timeout=15):
            raise RuntimeError("fake VLM server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self.capacity:
            self._slots = asyncio.Semaphore(self.capacity)
        self._ready.set()
        yield

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def _chat(self, request: Request) -> Response:
        payload = await request.json()
        with self._lock:
            self.requests.append(payload)
            if request.client is not None:
                self.client_ports.add(request.client.port)
            behaviour = self._script.popleft() if self._script else ok()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._slots is not None:
                async with self._slots:
                    await asyncio.sleep(self.latency)
            elif self.latency:
                await asyncio.sleep(self.latency)
            return await self._respond(behaviour, payload)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _respond(self, b: Behaviour, payload: dict[str, Any]) -> Response:
        if b.kind == "status":
            headers = {"Retry-After": b.retry_after} if b.retry_after is not None else None
            return JSONResponse({"error": {"message": f"scripted {b.status}"}}, b.status, headers=headers)
        if b.kind == "malformed":
            return Response("this is not json", media_type="application/json")
        if b.kind in ("drip", "endless"):
            return StreamingResponse(_trickle(b), media_type="application/json")
        if b.kind == "slow":
            await asyncio.sleep(b.delay)
        finish = "stop"
        if b.kind == "text":
            answer = b.text
        elif b.kind == "loop":
            answer, finish = "Totals\n" + LOOP_UNIT * 300, "length"
        else:
            answer = answer_for(payload)
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "model": payload.get("model", "fake"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": finish}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": len(answer.split()), "total_tokens": 0},
            }
        )


async def _trickle(b: Behaviour) -> AsyncIterator[bytes]:
    if b.kind == "drip":
        for _ in range(60):
            yield b"x"
            await asyncio.sleep(b.delay)  # the misbehaving peer's pace
        return
    chunk = b" " * 65536
    for _ in range(1024):
        yield chunk


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released): connection refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
