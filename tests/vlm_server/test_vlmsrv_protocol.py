"""The OpenAI protocol over real HTTP against the real tiny model: answers, streaming, stops, errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlm_server_helpers import Hooks, RunningServer, png_data_uri, settings_for, start_server

from tierocr.vlm_server.testing import SPECIAL_TOKENS


def ask(text: str = "Read this.", image: bool = True, **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if image:
        content.insert(0, {"type": "image_url", "image_url": {"url": png_data_uri()}})
    return {"model": "tiny-paddleocr-vl", "messages": [{"role": "user", "content": content}], **extra}


def sse_events(response: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]


def test_health_reports_an_unloaded_model_before_the_first_request(tiny_model: Path) -> None:
    running, stop = start_server(settings_for(tiny_model), Hooks())
    try:
        with running.client() as c:
            health = c.get("/health").json()
    finally:
        stop()
    assert health["status"] == "ok"
    assert health["model_loaded"] is False
    assert health["memory_used_mb"] == 0
    assert health["device"] == "cpu"


def test_models_lists_the_served_name(server: RunningServer) -> None:
    with server.client() as c:
        body = c.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["tiny-paddleocr-vl"]


def test_completion_has_choices_finish_reason_and_usage(server: RunningServer) -> None:
    with server.client() as c:
        body = c.post("/v1/chat/completions", json=ask(max_tokens=5)).json()
        health = c.get("/health").json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] == "length"
    usage = body["usage"]
    assert usage["completion_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 5
    assert health["model_loaded"] is True
    assert health["memory_used_mb"] > 0
    assert health["model_type"] == "paddleocr_vl"


def test_prompt_tokens_count_the_rendered_prompt(server: RunningServer) -> None:
    # The tokenizer is character level: "<s>" is one token, then "User: hello\nAssistant: " char by char.
    with server.client() as c:
        usage = c.post("/v1/chat/completions", json=ask("hello", image=False, max_tokens=2)).json()["usage"]
        with_image = c.post("/v1/chat/completions", json=ask("hello", max_tokens=2)).json()["usage"]
    assert usage["prompt_tokens"] == 1 + len("User: hello\nAssistant: ")
    # An image adds its start and end markers and at least one visual token.
    assert with_image["prompt_tokens"] >= usage["prompt_tokens"] + 3


def test_stream_sends_chunks_that_add_up_to_the_answer_and_ends_with_done(server: RunningServer) -> None:
    with server.client() as c:
        whole = c.post("/v1/chat/completions", json=ask(max_tokens=10)).json()
        r = c.post(
            "/v1/chat/completions",
            json=ask(max_tokens=10, stream=True, stream_options={"include_usage": True}),
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(ch["object"] == "chat.completion.chunk" for ch in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks if ch["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    finishes = [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"]]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert chunks[-1]["usage"]["completion_tokens"] == 10


def test_stop_string_cuts_the_answer_and_reports_stop(server: RunningServer) -> None:
    with server.client() as c:
        full = c.post("/v1/chat/completions", json=ask(max_tokens=16)).json()["choices"][0]["message"][
            "content"
        ]
        stop = full[4:6]
        cut = full.find(stop)
        body = c.post("/v1/chat/completions", json=ask(max_tokens=16, stop=[stop])).json()
        streamed = c.post("/v1/chat/completions", json=ask(max_tokens=16, stop=stop, stream=True))
    assert body["choices"][0]["message"]["content"] == full[:cut]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] < 16
    chunks = [json.loads(e) for e in sse_events(streamed)[:-1]]
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks) == full[:cut]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_answers_never_contain_special_tokens(server: RunningServer) -> None:
    with server.client() as c:
        text = c.post("/v1/chat/completions", json=ask(max_tokens=12)).json()["choices"][0]["message"][
            "content"
        ]
    assert not any(tok in text for tok in SPECIAL_TOKENS)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (json.dumps({"model": "tiny-paddleocr-vl"}).encode(), 400, None),
        (json.dumps(ask(max_tokens=10_000)).encode(), 400, None),
        (json.dumps(ask(model="gpt-4o")).encode(), 404, "model_not_found"),
    ],
    ids=["bad-json", "no-messages", "too-many-tokens", "unknown-model"],
)
def test_request_errors_use_openai_error_json(
    server: RunningServer, payload: bytes, status: int, code: str | None
) -> None:
    with server.client() as c:
        error = _error(c.post("/v1/chat/completions", content=payload), status)
    assert error["type"] == "invalid_request_error"
    if code is not None:
        assert error["code"] == code


def _with_image_url(url: str) -> dict[str, Any]:
    body = ask()
    body["messages"][0]["content"][0]["image_url"]["url"] = url
    return body


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("data:image/png;base64,@@@not-base64@@@", 400),
        ("data:image/png;base64," + base64.b64encode(b"plain text, not an image").decode(), 400),
        ("ftp://example.org/a.png", 400),
        ("data:image/png;base64," + base64.b64encode(b"\0" * 300_000).decode(), 413),
    ],
    ids=["bad-base64", "not-an-image", "bad-scheme", "too-large"],
)
def test_bad_images_are_refused(server: RunningServer, url: str, status: int) -> None:
    with server.client() as c:
        error = _error(c.post("/v1/chat/completions", json=_with_image_url(url)), status)
    assert error["code"] == "invalid_image"


def test_unknown_routes_and_methods_answer_openai_errors(server: RunningServer) -> None:
    with server.client() as c:
        assert _error(c.get("/v1/nothing"), 404)["code"] == "not_found"
        _error(c.get("/v1/chat/completions"), 405)


def test_lease_is_taken_around_load_and_generate(server: RunningServer) -> None:
    with server.client() as c:
        c.post("/v1/chat/completions", json=ask(max_tokens=2))
    leases = server.hooks.leases
    assert leases.count("load") == 1
    assert leases.count("generate") == server.state.batcher.stats.generate_calls
