"""The HTTP API under 20 concurrent document requests: requests, p50/p95 latency, server peak RSS.

Starts `tierocr serve` as a separate process on a free loopback port (its own data dir), so its peak RSS
(VmHWM) is the server's alone, then fires N concurrent `POST /api/ocr/document` per scenario:
  text_layer  a generated 2-page born-digital PDF (the text-layer tier)
  scanned     a generated 1-page image-only PDF (rendered and read by the classical OCR engine)

Prints a table and writes bench/api.json. Run: `python bench/api.py [--requests 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def _text_pdf() -> bytes:
    from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

    return text_pdf([list(PARAGRAPHS) * 2 for _ in range(2)], title="API benchmark", columns=1)


def _scanned_pdf() -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("RGB", (1240, 1754), "white")  # A4 at 150 dpi
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=30)
    for row in range(24):
        draw.text(
            (90, 90 + row * 64),
            f"Line {row + 1}: invoice 2024-{row:03d}, total {row * 17.5:.2f} EUR",
            fill="black",
            font=font,
        )
    buf = io.BytesIO()
    page.save(buf, "PDF", resolution=150)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mib(pid: int) -> float:
    match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def _start_server(port: int, data_dir: Path) -> subprocess.Popen[str]:
    env = os.environ | {"TIEROCR_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tierocr.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,  # uvicorn's access log
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for _ in range(200):  # uvicorn logs a handful of lines before it listens
        line = proc.stderr.readline()
        if not line:
            break
        if "Uvicorn running on" in line:
            return proc
    proc.kill()
    raise RuntimeError("the server did not start")


async def _fire(url: str, name: str, payload: bytes, n: int) -> tuple[list[float], list[int], float]:
    async def one(client: httpx.AsyncClient, i: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        r = await client.post(
            "/api/ocr/document", files={"file": (f"{name}-{i}.pdf", payload)}, data={"format": "both"}
        )
        return time.perf_counter() - t0, r.status_code

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=n)) as client:
        await client.get("/health")  # loads the engine so the first request does not pay for it
        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(client, i) for i in range(n)))
        wall = time.perf_counter() - t0
    return [r[0] for r in results], [r[1] for r in results], wall


def _pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    scenarios = {"text_layer": _text_pdf(), "scanned": _scanned_pdf()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc = _start_server(port, Path(tmp))
        try:
            for name, payload in scenarios.items():
                latencies, statuses, wall = asyncio.run(
                    _fire(f"http://127.0.0.1:{port}", name, payload, args.requests)
                )
                rows.append(
                    {
                        "scenario": name,
                        "requests": args.requests,
                        "ok": sum(s == 200 for s in statuses),
                        "p50_s": round(_pct(latencies, 50), 3),
                        "p95_s": round(_pct(latencies, 95), 3),
                        "wall_s": round(wall, 3),
                        "server_peak_rss_mib": round(_peak_rss_mib(proc.pid), 1),
                    }
                )
        finally:
            proc.terminate()
            proc.wait(30)
    from tierocr.config import Settings

    s = Settings().server
    result = {"workers": s.workers, "cpu_count": os.cpu_count(), "scenarios": rows}
    (HERE / "api.json").write_text(json.dumps(result, indent=2) + "\n")
    columns = (
        ("requests", "requests", "d"),
        ("ok", "ok", "d"),
        ("p50 s", "p50_s", ".3f"),
        ("p95 s", "p95_s", ".3f"),
        ("wall s", "wall_s", ".3f"),
        ("peak RSS MiB", "server_peak_rss_mib", ".1f"),
    )
    print(f"tierocr API, {args.requests} concurrent POST /api/ocr/document, server.workers={s.workers}")
    print(f"{'scenario':<12}" + "".join(f"{title:>14}" for title, _, _ in columns))
    for r in rows:
        print(f"{r['scenario']:<12}" + "".join(f"{r[key]:>14{fmt}}" for _, key, fmt in columns))
    print(f"written: {HERE / 'api.json'}")


if __name__ == "__main__":
    main()
