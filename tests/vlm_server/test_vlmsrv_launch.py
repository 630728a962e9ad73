"""`tierocr launch vlm-serve` and `tierocr stop` with the tiny random model on the CPU, each in its own
process as a user runs them: the server answers a request, and after the stop no process of it is alive."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from vlm_server_helpers import png_data_uri

from tierocr.gpu.procs import all_processes, has_tag

SRC = Path(__file__).resolve().parents[2] / "src"


def _tierocr(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tierocr.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow  # two CLI processes and a torch import: ~8 s on an idle 2-core machine
def test_launch_and_stop_vlm_serve_on_the_cpu(tiny_model: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env.update(
        PYTHONPATH=str(SRC), TIEROCR_DATA_DIR=str(tmp_path / "data"), TIEROCR_VLM_SERVER_IDLE_UNLOAD_S="0"
    )
    args = ["launch", "vlm-serve", "--model", str(tiny_model), "--port", str(port), "--device", "cpu"]
    launched = _tierocr(env, *args, "--dtype", "float32", "--name", "tiny", "--timeout", "240")
    assert launched.returncode == 0, launched.stdout + launched.stderr
    url = f"http://127.0.0.1:{port}/v1"
    assert f"tiny is up at {url}" in launched.stdout and "TIEROCR_VLM_BACKEND=tierocr" in launched.stdout
    record = json.loads((tmp_path / "data" / "servers" / "tiny.json").read_text())
    content = [{"type": "image_url", "image_url": {"url": png_data_uri()}}, {"type": "text", "text": "OCR"}]
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 2}
    try:
        answer = httpx.post(f"{url}/chat/completions", json=body, timeout=120)
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] == 2
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).json()["model_loaded"] is True
    finally:
        stopped = _tierocr(env, "stop", "tiny")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "processes left: 0" in stopped.stdout
    live = [p for p in all_processes() if not p.zombie]
    assert [p.pid for p in live if p.pgid == record["pgid"]] == []
    assert [p.pid for p in live if has_tag(p.pid, record["tag"])] == []
    assert "model unloaded" in (tmp_path / "data" / "servers" / "tiny.log").read_text()  # SIGTERM: graceful
