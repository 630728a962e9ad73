"""What vlm-serve refuses before working, its deadlines, a client that leaves, a stuck worker, SIGTERM,
and remote images: off by default, and behind the OCR API's SSRF guard when on."""

from __future__ import annotations

import base64
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlm_server_helpers import Hooks, RunningServer, png_data_uri, settings_for, start_server

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.app import create_app
from tierocr.vlm_server.images import FETCH_FAILED
from tierocr.vlm_server.jobs import GenRequest, GenResult
from tierocr.vlm_server.model import TransformersModel
from tierocr.vlm_server.testing import serve_in_thread

SRC = Path(__file__).resolve().parents[2] / "src"


def ask(*images: str, text: str = "OCR", **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in images]
    content.append({"type": "text", "text": text})
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 2, **extra}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.fixture
def serve(tiny_model: Path) -> Iterator[Any]:
    """Start servers with settings of the test's choosing; all are stopped at the end."""
    stops = []

    def start(hooks: Hooks | None = None, **extra: Any) -> RunningServer:
        running, stop = start_server(settings_for(tiny_model, **extra), hooks or Hooks())
        stops.append(stop)
        return running

    yield start
    for stop in stops:
        stop()


def test_a_long_prompt_is_refused_before_any_work(serve: Any) -> None:
    running = serve(max_prompt_chars=1000)
    with running.client() as c:
        error = _error(c.post("/v1/chat/completions", json=ask(png_data_uri(), text="x" * 5000)), 400)
        health = c.get("/health").json()
    assert error["code"] == "prompt_too_long" and "1000" in error["message"]
    assert health["loads"] == 0 and health["requests"] == 0  # nothing loaded, nothing generated


def test_image_count_is_checked_before_any_image_is_decoded(server: RunningServer) -> None:
    undecodable = "data:image/png;base64," + base64.b64encode(b"not an image").decode()
    too_many = ask(*[undecodable] * 9)  # the limit in the tests' settings is 8
    with server.client() as c:
        error = _error(c.post("/v1/chat/completions", json=too_many), 400)
    assert error["code"] == "too_many_images"


def test_prompt_tokens_over_the_limit_are_refused_before_generate(serve: Any) -> None:
    running = serve(max_prompt_tokens=40)
    with running.client() as c:
        long = _error(c.post("/v1/chat/completions", json=ask(png_data_uri(), text="y" * 60)), 400)
        short = c.post("/v1/chat/completions", json=ask(png_data_uri(), text="ok"))
    assert long["code"] == "prompt_too_long" and "40" in long["message"]
    assert short.status_code == 200
    assert running.state.batcher.stats.requests == 1  # only the short one was generated


def test_generation_past_its_deadline_is_a_504(serve: Any) -> None:
    running = serve(generation_timeout_s=1e-6, max_tokens_limit=64)
    with running.client() as c:
        error = _error(c.post("/v1/chat/completions", json=ask(png_data_uri(), max_tokens=64)), 504)
    assert error["code"] == "generation_timeout"
    assert running.state.batcher.stats.completion_tokens < 64  # stopped at its first token


class _Watched(Hooks):
    """Real model; its first token waits for the test's go, and the batch's requests and results are kept."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.go = threading.Event()
        self.finished = threading.Event()
        self.requests: list[GenRequest] = []
        self.results: list[GenResult] = []

    def loader(self, settings: VlmServerSettings) -> TransformersModel:
        hooks = self
        real = super().loader(settings)

        class Watched(type(real)):  # type: ignore[misc]
            def decode(self, ids: list[int]) -> str:
                hooks.started.set()
                hooks.go.wait(60)
                return super().decode(ids)

            def generate_batch(self, requests: list[GenRequest]) -> list[GenResult]:
                hooks.requests.extend(requests)
                results = super().generate_batch(requests)
                hooks.results.extend(results)
                hooks.finished.set()
                return results

        return Watched(real.processor, real.model, real.device, real.name)


def test_a_client_that_leaves_stops_its_non_streamed_generation(serve: Any) -> None:
    hooks = _Watched()
    running = serve(hooks, max_tokens_limit=4000)
    # A stop string makes the tracker decode every step, which is where the test holds the first token.
    payload = json.dumps(ask(png_data_uri(), max_tokens=4000, stop=["@@never@@"])).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    port = int(running.url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head.encode() + payload)
            assert hooks.started.wait(60)
        # The client has hung up mid-generation: the server must notice and cancel the row.
        assert hooks.requests[0].cancelled.wait(60)
    finally:
        hooks.go.set()
    assert hooks.finished.wait(120)
    assert hooks.results[0].completion_tokens < 4000


class _Hung:
    device = "cpu"
    model_type = "hung"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def generate_batch(self, requests: list[GenRequest]) -> list[GenResult]:
        self.started.set()
        self.release.wait(60)
        return [GenResult("done", "stop", 1, 1) for _ in requests]

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        return None


def test_health_reports_a_stuck_worker() -> None:
    model = _Hung()
    settings = VlmServerSettings(model="hung", device="cpu", generation_timeout_s=1e-6, idle_unload_s=0)
    url, stop = serve_in_thread(create_app(settings, loader=lambda _s: model))
    try:
        with httpx.Client(base_url=url, timeout=60) as c:
            before = c.get("/health")
            pending = threading.Thread(target=lambda: c.post("/v1/chat/completions", json=ask()))
            pending.start()
            assert model.started.wait(60)
            stuck = c.get("/health")
            model.release.set()
            pending.join(60)
            after = c.get("/health")
    finally:
        model.release.set()
        stop()
    assert before.status_code == 200 and before.json()["status"] == "ok"
    assert stuck.status_code == 503 and stuck.json()["status"] == "stuck"
    assert stuck.json()["generating_s"] > 0
    assert after.status_code == 200 and after.json()["status"] == "ok"


def test_sigterm_stops_a_server_whose_generate_hangs(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + str(Path(__file__).parent)
    child = Path(__file__).with_name("stuck_child.py")
    proc = subprocess.Popen(
        [sys.executable, str(child), str(sock.fileno())],
        pass_fds=[sock.fileno()],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    assert proc.stdout is not None
    client = threading.Thread(
        target=lambda: httpx.post(f"{url}/v1/chat/completions", json=ask(), timeout=120), daemon=True
    )
    try:
        client.start()
        assert proc.stdout.readline().strip() == "generating"
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)  # before the fix it waited for the generate, here forever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -signal.SIGTERM)


# --- remote images --------------------------------------------------------------------------------


@pytest.fixture
def image_host(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 serving tmp_path, for image_url downloads."""
    (tmp_path / "small.png").write_bytes(base64.b64decode(png_data_uri().split(",", 1)[1]))
    (tmp_path / "big.bin").write_bytes(b"\0" * 300_000)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_remote_images_are_off_by_default(server: RunningServer, image_host: str) -> None:
    assert VlmServerSettings().allow_remote_images is False
    with server.client() as c:
        error = _error(c.post("/v1/chat/completions", json=ask(f"{image_host}/small.png")), 400)
    assert "disabled" in error["message"]


def test_remote_images_from_internal_addresses_are_refused_alike(serve: Any, image_host: str) -> None:
    running = serve(allow_remote_images=True)
    open_port = f"{image_host}/small.png"
    urls = [
        open_port,
        "http://127.0.0.1:1/closed.png",
        "http://[::ffff:127.0.0.1]:1/x.png",
        "http://10.0.0.1/",
    ]
    with running.client() as c:
        messages = {_error(c.post("/v1/chat/completions", json=ask(u)), 400)["message"] for u in urls}
    assert messages == {FETCH_FAILED}  # one text: no telling open ports from closed ones


def test_remote_images_are_fetched_within_limits_when_allowed(serve: Any, image_host: str) -> None:
    running = serve(allow_remote_images=True, allow_private_image_urls=True)
    with running.client() as c:
        small = c.post("/v1/chat/completions", json=ask(f"{image_host}/small.png"))
        big = _error(c.post("/v1/chat/completions", json=ask(f"{image_host}/big.bin")), 413)
        missing = _error(c.post("/v1/chat/completions", json=ask(f"{image_host}/missing.png")), 400)
    assert small.status_code == 200
    assert big["code"] == "invalid_image"
    assert missing["message"] == FETCH_FAILED
