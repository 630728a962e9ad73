"""Structured extraction end to end (answer text scripted at the decode seam), and the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vlm_server_helpers import RunningServer, png_data_uri

from tierocr.vlm_server.structured import first_json_value

RECEIPT = {"merchant": "Café Nord", "total": 12.5, "items": [{"description": "tea", "amount": 3.5}]}


def receipt_request(**extra: Any) -> dict[str, Any]:
    content = [{"type": "image_url", "image_url": {"url": png_data_uri()}}]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 4, **extra}


@pytest.fixture
def scripted(server: RunningServer) -> Iterator[RunningServer]:
    yield server
    server.hooks.script = None


def test_fitting_answer_is_returned_as_clean_json(scripted: RunningServer) -> None:
    scripted.hooks.script = "Sure! ```json\n" + json.dumps(RECEIPT) + "\n``` Anything else?"
    with scripted.client() as c:
        r = c.post("/v1/chat/completions", json=receipt_request(task="receipt"))
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == RECEIPT


def test_unfitting_answer_is_a_422_naming_the_field(scripted: RunningServer) -> None:
    scripted.hooks.script = json.dumps({"merchant": "Café Nord", "total": {"amount": 12.5}})
    with scripted.client() as c:
        r = c.post("/v1/chat/completions", json=receipt_request(task="receipt"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "schema_validation_failed"
    assert "receipt" in error["message"] and "total" in error["message"]


def test_response_format_schema_is_enforced_also_when_streaming(scripted: RunningServer) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "count", "schema": schema}}
    with scripted.client() as c:
        scripted.hooks.script = '{"n": 3}'
        ok = c.post("/v1/chat/completions", json=receipt_request(response_format=fmt, stream=True))
        scripted.hooks.script = '{"n": "three"}'
        bad = c.post("/v1/chat/completions", json=receipt_request(response_format=fmt, stream=True))
    events = [line[6:] for line in ok.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(json.loads(events[0])["choices"][0]["delta"]["content"]) == {"n": 3}
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "schema_validation_failed"


def test_real_model_garbage_fails_validation_clearly(server: RunningServer) -> None:
    with server.client() as c:
        r = c.post("/v1/chat/completions", json=receipt_request(response_format={"type": "json_object"}))
    assert r.status_code == 422
    assert "no JSON" in r.json()["error"]["message"]


def test_invalid_schema_is_the_client_error(server: RunningServer) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "no-such-type"}}}
    with server.client() as c:
        r = c.post("/v1/chat/completions", json=receipt_request(response_format=fmt))
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"


def test_first_json_value_skips_prose_and_broken_candidates() -> None:
    assert first_json_value('noise {bad json} then [1, {"a": 2}] tail') == [1, {"a": 2}]
    with pytest.raises(ValueError):
        first_json_value("no json here")


def test_cli_serves_and_unloads_on_sigterm(tiny_model: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TIEROCR_VLM_SERVER_DEVICE": "cpu", "TIEROCR_VLM_SERVER_IDLE_UNLOAD_S": "0"}
    cmd = [sys.executable, "-m", "tierocr.cli", "vlm-serve", "--model", str(tiny_model), "--port", str(port)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    try:
        for _ in range(200):  # bounded: uvicorn logs a handful of lines before it listens
            line = proc.stderr.readline()
            if "Uvicorn running" in line or not line:
                break
        assert f"127.0.0.1:{port}" in line, line
        import httpx

        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=receipt_request(), timeout=60)
        assert r.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["model_loaded"] is True
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn re-raises the signal after a graceful shutdown, so the exit status is SIGTERM's.
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in rest
    assert "model unloaded" in rest


def test_every_setting_is_documented() -> None:
    from tierocr.config import VlmServerSettings

    docs = (Path(__file__).parents[2] / "docs" / "vlm-server.md").read_text()
    missing = [
        name for name in VlmServerSettings.model_fields if f"TIEROCR_VLM_SERVER_{name.upper()}" not in docs
    ]
    assert missing == []
