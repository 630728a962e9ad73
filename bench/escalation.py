"""Does the VLM client keep a model server busy? Throughput against an endpoint of known capacity.

A local OpenAI-compatible endpoint (the fake server of the escalation tests, in its own process like a
real model server) serves ``--slots`` requests at a time, each taking ``--latency`` seconds; excess
requests queue, like a vLLM server at its batch limit. The client sends ``--requests`` page images
through ``VlmClient.recognize`` (PNG encoding, data URI, pooled HTTP) with its default concurrency. The
limit is slots / latency requests per second; the client should reach at least 95 % of it (one untimed
warm-up request goes first). The run is repeated (``--repeat``) and the median counts, since this
machine is shared and a single run is at the mercy of its neighbours.
Usage: .venv/bin/python bench/escalation.py [--requests 200] [--slots 8] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "escalation"))

from fake_vlm import FakeVlm  # noqa: E402

from tierocr.config import Settings  # noqa: E402
from tierocr.engines.vlm import VlmClient, VlmError  # noqa: E402


def synthetic_page(width: int, height: int) -> Image.Image:
    """A page-like image (lines of dark strokes on white), so PNG encoding costs what a page costs."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for y in range(40, height - 40, 28):
        for x in range(40, width - 60, 37):
            draw.rectangle((x, y, x + 20 + (x * y) % 13, y + 12), fill=(20, 20, 20))
    return image


async def drive(url: str, requests: int, image: Image.Image, concurrency: int | None) -> tuple[float, int]:
    overrides = {"url": url, "model": "bench"}
    if concurrency:
        overrides["max_concurrency"] = concurrency  # type: ignore[assignment]
    settings = Settings(vlm=overrides).vlm
    errors = 0
    async with VlmClient(settings) as client:

        async def one() -> None:
            nonlocal errors
            try:
                await client.recognize(image)
            except VlmError:
                errors += 1

        # One untimed request first: Pillow's codec registry and the first connection are one-off costs
        # of a process, not of the throughput being measured.
        await client.recognize(image)
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return time.perf_counter() - started, errors


def serve(slots: int, latency: float) -> None:
    """Child process: run the endpoint, print its URL, serve until stdin closes, then print its stats."""
    with FakeVlm(capacity=slots, latency=latency) as server:
        print(server.url, flush=True)
        sys.stdin.read()
        peak = server.max_in_flight
    print(json.dumps({"max_in_flight": peak}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=None, help="client max_concurrency")
    parser.add_argument("--size", type=int, nargs=2, default=(850, 1100), metavar=("W", "H"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "escalation.json")
    args = parser.parse_args()
    if args.serve:
        serve(args.slots, args.latency)
        return

    image = synthetic_page(*args.size)
    command = [sys.executable, __file__, "--serve", "--slots", str(args.slots)]
    command += ["--latency", str(args.latency)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"endpoint did not start: {url!r}")
        runs = [asyncio.run(drive(url, args.requests, image, args.concurrency)) for _ in range(args.repeat)]
        child.stdin.close()
        peak = json.loads(child.stdout.readline())["max_in_flight"]
    limit = args.slots / args.latency
    ratios = [(args.requests - errors) / wall / limit for wall, errors in runs]
    wall, errors = sorted(runs, key=lambda r: (args.requests - r[1]) / r[0])[len(runs) // 2]
    achieved = (args.requests - errors) / wall
    result = {
        "requests": args.requests,
        "errors": errors,
        "server_slots": args.slots,
        "server_latency_s": args.latency,
        "client_max_concurrency": args.concurrency or Settings().vlm.max_concurrency,
        "peak_requests_at_server": peak,
        "image_size": list(args.size),
        "warmup_requests": 1,
        "wall_s": round(wall, 3),
        "throughput_rps": round(achieved, 2),
        "limit_rps": round(limit, 2),
        "ratio": round(achieved / limit, 4),
        "ratio_all_runs": [round(r, 4) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 4),
        "target_ratio": 0.95,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"median of {args.repeat}: {args.requests} requests in {wall:.2f}s: {achieved:.2f} req/s of a "
        f"{limit:.2f} req/s limit = {achieved / limit:.1%} (target ≥ 95 %), {errors} errors; "
        f"all runs {', '.join(f'{r:.1%}' for r in ratios)} → {args.out}"
    )


if __name__ == "__main__":
    main()
