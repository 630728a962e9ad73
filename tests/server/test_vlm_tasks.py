"""Table recognition and extraction through the real VLM client, against a local OpenAI-compatible fake."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator

import pytest
from server_helpers import FakePipeline, LiveServer, png_bytes

from tierocr.config import Settings


@pytest.fixture
def chat_server() -> Iterator[tuple[str, list[dict]]]:
    """Answers /v1/chat/completions by the prompt it gets; records every request body."""
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append(body)
            prompt = " ".join(
                part.get("text", "") for part in body["messages"][0]["content"] if isinstance(part, dict)
            )
            if "JSON" in prompt:
                content = '```json\n{"total": "42,00", "vendor": "ACME"}\n```'
            elif "Table" in prompt:
                content = "<table><tr><td>a</td><td>b</td></tr></table>"
            else:
                content = "plain"
            answer = {
                "model": "fake",
                "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            }
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()
    server.server_close()


def test_table_and_extract_through_the_vlm_client(
    settings: Settings,
    fake: FakePipeline,
    start_server: Callable[..., LiveServer],
    chat_server: tuple[str, list[dict]],
) -> None:
    url, seen = chat_server
    settings.vlm.url = url
    settings.vlm.retries = 0
    server = start_server(settings, pipeline_factory=fake.factory)  # the default (real) VLM adapter
    with server.client() as c:
        table = c.post("/api/ocr/recognize", files={"image": ("t.png", png_bytes())}, data={"task": "table"})
        fields = c.post(
            "/api/ocr/extract",
            files={"file": ("r.png", png_bytes())},
            data={"schema": json.dumps({"total": 0.0, "vendor": ""})},
        )
    assert table.status_code == 200, table.text
    assert table.json()["html"] == "<table><tr><td>a</td><td>b</td></tr></table>"
    assert fields.status_code == 200, fields.text
    assert fields.json()["method"] == "vlm" and fields.json()["fields"] == {"total": 42.0, "vendor": "ACME"}
    assert len(seen) == 2 and all(body["messages"][0]["content"] for body in seen)


def test_vlm_failure_is_502(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings.vlm.url = f"http://127.0.0.1:{closed_port}/v1"
    settings.vlm.retries = 0
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        r = c.post("/api/ocr/recognize", files={"image": ("t.png", png_bytes())}, data={"task": "formula"})
    assert r.status_code == 502 and "vision-language model failed" in r.json()["detail"]
