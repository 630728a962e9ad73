"""/api/ocr/document and its SSE stream, over real HTTP with a fake pipeline."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

from server_helpers import FakePipeline, LiveServer, pdf_bytes, png_bytes

from tierocr.config import Settings


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    """(event, data) pairs of an SSE body, in order; pings (comments) are skipped."""
    kind, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield kind, json.loads("\n".join(data))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())


def test_document_returns_json_and_markdown(live: LiveServer, fake: FakePipeline) -> None:
    with live.client() as c:
        r = c.post(
            "/api/ocr/document",
            files={"file": ("../../etc/report.pdf", pdf_bytes(1), "application/pdf")},
            data={"pages": "2-3", "format": "both"},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["number"] for p in body["document"]["pages"]] == [2, 3]
    assert "text of page 2" in body["markdown"] and "text of page 3" in body["markdown"]
    assert body["pages_parsed"] == 2 and body["page_count"] == 3
    assert fake.sources == ["report.pdf"]  # the client's path never reaches the pipeline


def test_document_format_md_only(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/api/ocr/document", files={"file": ("a.png", png_bytes())}, data={"format": "md"})
    assert r.status_code == 200
    assert "markdown" in r.json() and "document" not in r.json()


def test_document_options_reach_the_pipeline_settings(live: LiveServer, fake: FakePipeline) -> None:
    with live.client() as c:
        r = c.post(
            "/api/ocr/document",
            files={"file": ("a.png", png_bytes())},
            data={"escalate": "never", "enable_layout": "true"},
        )
    assert r.status_code == 200
    seen = fake.settings_seen[-1]
    assert seen.vlm.escalate == "never" and seen.layout.enabled is True


def test_page_range_errors_are_422(live: LiveServer) -> None:
    with live.client() as c:
        bad_syntax = c.post(
            "/api/ocr/document", files={"file": ("a.pdf", pdf_bytes(1))}, data={"pages": "one"}
        )
        past_end = c.post("/api/ocr/document", files={"file": ("a.pdf", pdf_bytes(1))}, data={"pages": "9"})
    assert bad_syntax.status_code == 422
    assert past_end.status_code == 422 and "has 3" in past_end.json()["detail"]


def test_too_many_pages_is_413_before_any_page(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    fake = FakePipeline(page_count=50)
    settings.server.max_pages = 10
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        r = c.post("/api/ocr/document", files={"file": ("a.pdf", pdf_bytes(1))})
    assert r.status_code == 413 and "/api/jobs" in r.json()["detail"]
    assert fake.pages_made == 0


def test_stream_sends_progress_pages_then_summary(live: LiveServer) -> None:
    with (
        live.client() as c,
        c.stream("POST", "/api/ocr/document/stream", files={"file": ("a.pdf", pdf_bytes(1))}) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = list(_sse(r.iter_lines()))
    kinds = [k for k, _ in events]
    assert kinds == ["progress", "page", "progress", "page", "progress", "page", "progress", "summary"]
    pages = [d for k, d in events if k == "page"]
    assert [p["number"] for p in pages] == [1, 2, 3]
    assert pages[0]["tier"] == "ocr" and "text of page 1" in pages[0]["markdown"] and pages[0]["blocks"]
    assert [d["pages_done"] for k, d in events if k == "progress"] == [0, 1, 2, 3]
    assert events[-1][1]["pages_parsed"] == 3 and events[-1][1]["tiers"] == {"ocr": 3}


def test_stream_open_error_is_a_plain_4xx(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/api/ocr/document/stream", files={"file": ("a.pdf", pdf_bytes(1))}, data={"pages": "7"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/json")


def test_stream_client_disconnect_cancels_remaining_pages(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    release = threading.Event()

    def hook(number: int) -> None:
        if number == 2:  # page 2 is "slow": it ends only once the server has seen the client leave
            assert release.wait(30)

    fake = FakePipeline(page_count=1000, page_hook=hook)
    settings.server.max_pages = 1000
    server = start_server(settings, pipeline_factory=fake.factory)
    metrics = server.app.state.tierocr.metrics
    counter = metrics.stream_cancelled

    class _Spy:
        """Counts as before, and lets page 2 finish once the stream's cleanup (cancel first) has run."""

        def inc(self) -> None:
            counter.inc()
            release.set()

    metrics.stream_cancelled = _Spy()
    with server.client() as c:
        with c.stream("POST", "/api/ocr/document/stream", files={"file": ("a.pdf", pdf_bytes(1))}) as r:
            assert r.status_code == 200
            for kind, data in _sse(r.iter_lines()):
                if kind == "page":
                    assert data["number"] == 1
                    break
        # leaving the block closed the connection mid-stream
        assert fake.closed.wait(30), "the pipeline's page stream was never closed"
        assert fake.pages_made == 2, f"{fake.pages_made} pages parsed; the stream should stop after page 2"
        assert "tierocr_stream_cancelled_total 1.0" in c.get("/metrics").text


def test_request_timeout_is_504_and_stops_the_parse(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    release = threading.Event()

    def hook(number: int) -> None:
        if number == 1:  # the first page outlasts the request's time limit
            assert release.wait(30)

    fake = FakePipeline(page_count=5, page_hook=hook)
    settings.server.request_timeout_s = 0.2
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        r = c.post("/api/ocr/document", files={"file": ("slow.pdf", pdf_bytes(1))})
    release.set()
    assert r.status_code == 504 and "/api/jobs" in r.json()["detail"]
    assert fake.closed.wait(30)
    assert fake.pages_made == 1  # the parse stopped at the first page boundary after the timeout
