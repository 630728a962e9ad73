"""GPU lease benchmark: proves exclusion under contention and measures what the lease costs per request.

Three measurements per backend (file, and redis when ``redis-server`` is installed):

* contention: HOLDERS processes take the lease ROUNDS times each at random priorities, logging every hold;
  the audit counts overlapping holds (must be 0) and fencing-token regressions (must be 0);
* bare lease: acquire + release with nobody else around, i.e. the floor a request pays;
* guard: sequential POSTs to a fake LLM through the guard with the lease versus the same guard without it,
  so the difference is the latency the lease adds to an LLM request (proxying itself cancels out).

Run: ``.venv/bin/python bench/lease.py`` (prints a table, writes bench/lease.json).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing as mp
import os
import random
import select
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tierocr.config import GpuSettings
from tierocr.gpu.audit import HoldInterval, append_interval, audit, read_intervals
from tierocr.gpu.guard import build_guard
from tierocr.gpu.lease import create_lease

HOLDERS = 4
ROUNDS = 50
HOLD_S = 0.002
BARE_N = 300
GUARD_N = 200
OUT = Path(__file__).with_name("lease.json")


def _contender(settings: dict[str, Any], log: str, seed: int, go: Any) -> None:
    lease = create_lease("bench", GpuSettings(**settings))
    rng = random.Random(seed)
    go.wait(30)
    for _ in range(ROUNDS):
        with lease.acquire(priority=rng.choice((10, 50, 100)), timeout=120) as hold:
            start = time.monotonic_ns()
            time.sleep(HOLD_S)  # stands for GPU work
            append_interval(Path(log), HoldInterval(start, time.monotonic_ns(), os.getpid(), hold.token))
    lease.close()


def contention(settings: dict[str, Any], workdir: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    log = workdir / f"{settings['backend']}-holds.log"
    procs = [ctx.Process(target=_contender, args=(settings, str(log), s, go)) for s in range(HOLDERS)]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(300)
    holds = sorted(read_intervals(log), key=lambda i: i.start_ns)
    result = audit(holds)
    # Hand-over: one holder's end to the next one's start, what waiting costs under contention.
    gaps = [(b.start_ns - a.end_ns) / 1e9 for a, b in itertools.pairwise(holds)]
    return {**result.__dict__, "handover": _stats(gaps)}


def _stats(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "mean_ms": round(statistics.fmean(ms), 3),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3),
    }


def bare_lease(settings: dict[str, Any]) -> dict[str, float]:
    lease = create_lease("bench-bare", GpuSettings(**settings))
    samples = []
    for _ in range(BARE_N):
        t0 = time.perf_counter()
        with lease.acquire(timeout=10):
            pass
        samples.append(time.perf_counter() - t0)
    lease.close()
    return _stats(samples)


async def _fake_llm(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    payload = b'{"choices":[{"message":{"content":"ok"}}]}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@contextlib.contextmanager
def _serve(app: Any) -> Iterator[str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle adds ~40 ms per answer
    sock.listen(128)  # listening before uvicorn starts: early requests queue instead of being refused
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def _post_s(client: httpx.Client, url: str, i: int) -> float:
    t0 = time.perf_counter()
    client.post(f"{url}/v1/chat/completions", json={"id": i, "messages": []}).raise_for_status()
    return time.perf_counter() - t0


def guard_latency(settings: dict[str, Any], llm_url: str) -> dict[str, Any]:
    """Requests alternate between a bare guard and a leased one, so load from elsewhere on the machine hits
    both series alike and the difference is the lease's own cost."""
    gpu = GpuSettings(**settings)
    bare: list[float] = []
    leased: list[float] = []
    with (
        httpx.Client(timeout=30) as client,
        _serve(build_guard(llm_url, None, gpu)) as bare_url,
        _serve(build_guard(llm_url, create_lease("bench-guard", gpu), gpu)) as leased_url,
    ):
        for i in range(20):  # warm-up: connection pools, imports
            _post_s(client, bare_url, i)
            _post_s(client, leased_url, i)
        for i in range(GUARD_N):
            bare.append(_post_s(client, bare_url, i))
            leased.append(_post_s(client, leased_url, i))
    b, lz = _stats(bare), _stats(leased)
    return {
        "requests": GUARD_N,
        "proxy_only": b,
        "proxy_with_lease": lz,
        "lease_added_mean_ms": round(lz["mean_ms"] - b["mean_ms"], 3),
        "lease_added_median_ms": round(lz["median_ms"] - b["median_ms"], 3),
        "lease_added_p95_ms": round(lz["p95_ms"] - b["p95_ms"], 3),
    }


@contextlib.contextmanager
def _redis() -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        seen = b""
        while b"Ready to accept connections" not in seen:  # bounded: each read waits at most 20 s for output
            if not select.select([proc.stdout], [], [], 20)[0] or not (
                data := os.read(proc.stdout.fileno(), 65536)
            ):
                raise RuntimeError(f"redis-server did not start: {seen[-2000:]!r}")
            seen += data
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    report: dict[str, Any] = {
        "holders": HOLDERS,
        "rounds_per_holder": ROUNDS,
        "hold_ms": HOLD_S * 1000,
        "cpus": os.cpu_count(),
        "backends": {},
    }
    with tempfile.TemporaryDirectory() as tmp, _redis() as redis_url, _serve(_fake_llm) as llm_url:
        workdir = Path(tmp)
        backends: dict[str, dict[str, Any]] = {
            "file": {"backend": "file", "lock_dir": str(workdir / "locks")}
        }
        if redis_url:
            backends["redis"] = {
                "backend": "redis",
                "redis_url": redis_url,
                "ttl_s": 5,
                "renew_interval_s": 1,
            }
        for name, settings in backends.items():
            report["backends"][name] = {
                "contention": contention(settings, workdir),
                "bare_acquire_release": bare_lease(settings),
                "guard": guard_latency(settings, llm_url),
            }
    table = Table(
        "backend",
        "holders",
        "acquisitions",
        "overlaps",
        "token regr.",
        "handover mean/p95 ms",
        "bare mean/p95 ms",
        "proxy mean/p95 ms",
        "proxy+lease mean/p95 ms",
        "lease adds mean/median/p95 ms",
    )
    for name, r in report["backends"].items():
        c, b, g = r["contention"], r["bare_acquire_release"], r["guard"]
        table.add_row(
            name, str(c["holders"]), str(c["acquisitions"]), str(c["overlaps"]), str(c["token_regressions"]),
            f"{c['handover']['mean_ms']}/{c['handover']['p95_ms']}", f"{b['mean_ms']}/{b['p95_ms']}",
            f"{g['proxy_only']['mean_ms']}/{g['proxy_only']['p95_ms']}",
            f"{g['proxy_with_lease']['mean_ms']}/{g['proxy_with_lease']['p95_ms']}",
            f"{g['lease_added_mean_ms']}/{g['lease_added_median_ms']}/{g['lease_added_p95_ms']}",
        )  # fmt: skip
    Console(width=200).print(table)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
