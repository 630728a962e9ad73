"""Throughput of `tierocr vlm-serve` with dynamic batching against one-at-a-time requests.

Builds a tiny random PaddleOCR-VL (or GLM-OCR, LightOnOCR) of the tests, serves it on 127.0.0.1 over
real HTTP, and for 1, 4 and 16 concurrent requests compares completion tokens per second with the same
requests sent one after another. It measures the server's batching machinery on the CPU, not OCR
quality or real-model speed. Writes bench/vlm_server.json (or --out).

    .venv/bin/python bench/vlm_server.py [--max-tokens 64] [--rounds 3] [--arch glm_ocr]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import platform
import tempfile
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
from PIL import Image, ImageDraw

from tierocr.config import load_settings
from tierocr.vlm_server.app import create_app
from tierocr.vlm_server.testing import (
    build_tiny_glm_ocr,
    build_tiny_lighton_ocr,
    build_tiny_paddleocr_vl,
    serve_in_thread,
)

CONCURRENCY = (1, 4, 16)
BUILDERS = MappingProxyType(
    {
        "paddleocr_vl": build_tiny_paddleocr_vl,
        "glm_ocr": build_tiny_glm_ocr,
        "lighton_ocr": build_tiny_lighton_ocr,
    }
)


def _request(max_tokens: int) -> dict[str, Any]:
    image = Image.new("RGB", (160, 48), "white")
    ImageDraw.Draw(image).text((4, 16), "Invoice 2024-117  total 1,250.00", fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "OCR:"}]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0}


async def _run(url: str, body: dict[str, Any], n: int, concurrent: bool) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        start = time.perf_counter()
        if concurrent:
            responses = await asyncio.gather(
                *(client.post("/v1/chat/completions", json=body) for _ in range(n))
            )
        else:
            responses = [await client.post("/v1/chat/completions", json=body) for _ in range(n)]
        wall = time.perf_counter() - start
    for r in responses:
        r.raise_for_status()
    return wall, sum(r.json()["usage"]["completion_tokens"] for r in responses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="Repeat each measurement; the best is kept.")
    parser.add_argument("--arch", choices=sorted(BUILDERS), default="paddleocr_vl")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = BUILDERS[args.arch](Path(tmp) / f"tiny-{args.arch}")
        base = load_settings().vlm_server
        settings = base.model_copy(
            update={
                "model": str(model),
                "device": "cpu",
                "dtype": "float32",
                "max_batch_size": max(CONCURRENCY),
            }
        )
        app = create_app(settings)
        url, stop = serve_in_thread(app)
        body = _request(args.max_tokens)
        rows = []
        try:
            asyncio.run(_run(url, body, 2, concurrent=True))  # load the model and warm up
            stats = app.state.server.batcher.stats
            for n in CONCURRENCY:
                row: dict[str, Any] = {"requests": n}
                for mode in ("sequential", "concurrent"):
                    calls_before = stats.generate_calls
                    best = None
                    for _ in range(args.rounds):
                        wall, tokens = asyncio.run(_run(url, body, n, concurrent=mode == "concurrent"))
                        if best is None or wall < best[0]:
                            best = (wall, tokens)
                    assert best is not None
                    row[mode] = {
                        "wall_s": round(best[0], 3),
                        "completion_tokens": best[1],
                        "tokens_per_s": round(best[1] / best[0], 1),
                        "generate_calls_per_round": (stats.generate_calls - calls_before) / args.rounds,
                    }
                row["speedup"] = round(
                    row["concurrent"]["tokens_per_s"] / row["sequential"]["tokens_per_s"], 2
                )
                rows.append(row)
        finally:
            stop()

    result = {
        "what": f"tiny random {args.arch} (real architecture), CPU float32, greedy, over HTTP on 127.0.0.1",
        "max_tokens": args.max_tokens,
        "max_batch_size": settings.max_batch_size,
        "max_wait_ms": settings.max_wait_ms,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{'requests':>8} | {'sequential tok/s':>16} | {'concurrent tok/s':>16} | {'gen calls':>9} | speedup"
    )
    for row in rows:
        seq, con = row["sequential"], row["concurrent"]
        print(
            f"{row['requests']:>8} | {seq['tokens_per_s']:>16} | {con['tokens_per_s']:>16} | "
            f"{con['generate_calls_per_round']:>9} | {row['speedup']}x"
        )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
