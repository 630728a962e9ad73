"""Helpers of the GPU lease tests: child-process bodies (importable by spawned children), a throwaway Redis
server, an in-thread uvicorn and a fake OpenAI-compatible LLM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tierocr.config import GpuSettings
from tierocr.gpu.audit import HoldInterval, append_interval
from tierocr.gpu.lease import create_lease

PRIORITIES = (10, 50, 100)


def contend(
    settings: dict[str, Any],
    name: str,
    log_path: str,
    rounds: int,
    hold_s: float,
    seed: int,
    go: Any,
    stop: Any = None,
    notify: Any = None,
) -> None:
    """Child body: take the lease ``rounds`` times (or until ``stop``), logging each hold's interval."""
    lease = create_lease(name, GpuSettings(**settings))
    rng = random.Random(seed)
    go.wait(30)
    for _ in range(rounds):
        if stop is not None and stop.is_set():
            break
        with lease.acquire(priority=rng.choice(PRIORITIES), timeout=60) as hold:
            start = time.monotonic_ns()
            time.sleep(hold_s)  # stands for a unit of GPU work
            end = time.monotonic_ns()
            append_interval(Path(log_path), HoldInterval(start, end, os.getpid(), hold.token))
        if notify is not None:
            notify.put(hold.token)
    lease.close()


def hold_forever(settings: dict[str, Any], name: str, held: Any, token: Any) -> None:
    """Child body: take the lease, report the token, then hang until killed."""
    lease = create_lease(name, GpuSettings(**settings))
    with lease.acquire(timeout=30) as hold:
        token.value = hold.token
        held.set()
        threading.Event().wait(600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on loopback; yields its URL. Readiness is read from its log, not polled."""
    binary = shutil.which("redis-server")
    assert binary is not None
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        seen = b""
        # Raw reads, not readline: a buffered reader would hide lines from select().
        while b"Ready to accept connections" not in seen:
            readable, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            data = os.read(proc.stdout.fileno(), 65536) if readable else b""
            if not data:
                raise RuntimeError(f"redis-server did not start: {seen[-2000:]!r}")
            seen += data
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a thread; the socket is bound first so requests can be sent at once."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle adds ~40 ms per answer
    sock.listen(128)  # listening before uvicorn starts: early requests queue instead of being refused
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


class FakeLLM:
    """OpenAI-ish upstream that logs the interval it spends on each POST. A streaming answer sends four SSE
    events; with ``gate`` set up, it waits after the first event until the test has seen it."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.intervals: list[tuple[int, int]] = []
        self.gate = gate
        self.gate_timed_out = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "GET":
            await _json(
                send, {"object": "list", "data": [{"id": "fake"}], "query": scope["query_string"].decode()}
            )
            return
        start = time.monotonic_ns()
        request = json.loads(body or b"{}")
        if request.get("stream"):
            headers = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for i in range(4):
                if i == 1 and self.gate is not None:
                    self.gate_timed_out = not await asyncio.to_thread(self.gate.wait, 20)
                await asyncio.sleep(0.002)
                chunk = f"data: {json.dumps({'i': i, 'id': request.get('id')})}\n\n".encode()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            end = time.monotonic_ns()
            self.intervals.append((start, end))
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
            return
        await asyncio.sleep(0.005)
        end = time.monotonic_ns()
        self.intervals.append((start, end))
        await _json(send, {"id": request.get("id"), "choices": [{"message": {"content": "ok"}}]})


async def _json(send: Any, data: dict[str, Any]) -> None:
    payload = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
