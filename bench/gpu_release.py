"""GPU memory around one leased escalation batch on `tierocr vlm-serve`: before the load, under load, after
the release, and after `tierocr stop`. This is the check for a GPU machine; on a CPU it runs the same path
and reports the figures as unavailable.

It launches vlm-serve (`tierocr launch`, with the server's own lease off so the escalation client holds the
lease and asks for the unload, which is the path that records figures) with a tiny random-weight model
built on the spot, or with ``--model``. It escalates ``--pages`` page images in one batch, reads the release
record, stops the server and reads the card once more.

Run: ``.venv/bin/python bench/gpu_release.py [--model DIR] [--pages 8] [--device auto]`` (prints a table,
writes bench/gpu_release.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tierocr.config import Settings
from tierocr.document import Page, Tier
from tierocr.escalation import Escalator
from tierocr.gpu.nvml import read_gpu
from tierocr.gpu.release import read_record, record_path

OUT = Path(__file__).with_name("gpu_release.json")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tierocr.cli", *args], env=env, capture_output=True, text=True, timeout=900
    )


def _pages(n: int) -> list[tuple[Page, Image.Image]]:
    out = []
    for i in range(1, n + 1):
        image = Image.new("RGB", (640, 240), "white")
        ImageDraw.Draw(image).text((10, 10), f"Invoice {i}: total 12.50 EUR", fill="black")
        out.append((Page(number=i, width=640, height=240, dpi=72, tier=Tier.OCR), image))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: a tiny random PaddleOCR-VL built here)")
    parser.add_argument("--profile", default="paddleocr-vl")
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tierocr-release-"))
    model = args.model
    if model is None:
        from tierocr.vlm_server.testing import build_tiny_paddleocr_vl

        model = str(build_tiny_paddleocr_vl(work / "tiny-paddleocr-vl"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env.update(
        TIEROCR_DATA_DIR=str(work / "data"),
        TIEROCR_VLM_SERVER_USE_LEASE="never",
        TIEROCR_VLM_SERVER_IDLE_UNLOAD_S="0",
    )
    idle = read_gpu(0)
    started = time.perf_counter()
    launch = ["launch", "vlm-serve", "--model", model, "--port", str(port), "--device", args.device]
    launched = _cli(env, *launch)
    print(launched.stdout + launched.stderr)
    if launched.returncode != 0:
        raise SystemExit(launched.returncode)
    launch_s = time.perf_counter() - started
    settings = Settings(
        vlm={
            "url": f"http://127.0.0.1:{port}/v1",
            "model": model,
            "profile": args.profile,
            "escalate": "always",
            "max_tokens": 32,
            "use_lease": True,
            "backend": "tierocr",
        },
        gpu={"lock_dir": str(work / "locks"), "lease": "bench"},
    )
    try:
        started = time.perf_counter()
        pages = Escalator(settings).escalate_pages(_pages(args.pages))
        batch_s = time.perf_counter() - started
    finally:
        stopped = _cli(env, "stop", f"vlm-serve-{port}")
    print(stopped.stdout + stopped.stderr)
    record = read_record(record_path(settings.gpu))
    final = read_gpu(0)
    left = re.search(r"processes left: (\d+)", stopped.stdout)
    shutil.rmtree(work, ignore_errors=True)
    result: dict[str, Any] = {
        "gpu": (idle.to_dict() if idle is not None else None),
        "model": model,
        "pages": args.pages,
        "vlm_pages": sum(p.tier is Tier.VLM for p in pages),
        "launch_s": round(launch_s, 2),
        "batch_s": round(batch_s, 2),
        "release": record.to_dict() if record is not None else None,
        "after_stop_used_mb": round(final.used_mb, 1) if final is not None else None,
        "processes_left": int(left.group(1)) if left else None,
    }
    OUT.write_text(json.dumps(result, indent=2))
    r = record
    rows = [
        ("idle, before launch", idle.used_mb if idle is not None else None),
        ("before the load (lease taken)", r.before_mb if r else None),
        ("under load (batch done)", r.loaded_mb if r else None),
        ("after the release", r.after_mb if r else None),
        ("after tierocr stop", final.used_mb if final is not None else None),
    ]
    print("| moment | GPU used MiB |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {'n/a (no NVML)' if value is None else f'{value:.0f}'} |")
    status = r.status if r else "no record"
    print(f"\nrelease: {status}; {r.memory_line() if r else ''}; wrote {OUT}")


if __name__ == "__main__":
    main()
