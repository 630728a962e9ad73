"""/health, /api/info, /metrics and the OpenAPI schema."""

from __future__ import annotations

import socket
from collections.abc import Callable

from server_helpers import FakePipeline, LiveServer, png_bytes

from tierocr.config import Settings
from tierocr.engines import OcrEngine
from tierocr.errors import EngineUnavailableError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_reports_each_tier(live: LiveServer) -> None:
    with live.client() as c:
        r = c.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["tiers"]["ocr"] == {"ready": True, "engine": "fake-ocr", "version": "fake-1.0"}
    assert body["tiers"]["vlm"]["configured"] is False
    assert set(body["tiers"]) == {"text_layer", "ocr", "vlm", "layout"}


def test_health_is_503_when_the_engine_cannot_load(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    def broken(_settings: object) -> OcrEngine:
        raise EngineUnavailableError("OCR engine 'rapidocr' is not installed")

    server = start_server(settings, pipeline_factory=fake.factory, engine_factory=broken)
    with server.client() as c:
        r = c.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable" and "not installed" in r.json()["tiers"]["ocr"]["detail"]


def test_health_degraded_when_the_vlm_is_unreachable(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.vlm.url = f"http://127.0.0.1:{_closed_port()}/v1"
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        r = c.get("/health")
    assert r.status_code == 200  # the classical tiers still serve
    assert r.json()["status"] == "degraded"
    assert r.json()["tiers"]["vlm"]["ready"] is False and r.json()["tiers"]["vlm"]["configured"] is True


def test_info_shows_limits_and_hides_secrets(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.input.password = "pdf-password"
    settings.vlm.url = "http://user:hunter2@127.0.0.1:9/v1"
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        c.get("/health")  # loads the engine
        body = c.get("/api/info").json()
    assert body["limits"]["max_upload_bytes"] == settings.server.max_upload_bytes
    assert "rapidocr" in body["engines"]["available"] and body["engines"]["loaded"] == {
        "fake-ocr": "fake-1.0"
    }
    text = str(body)
    assert "pdf-password" not in text and "hunter2" not in text
    assert body["config"]["input"]["password"] == "***"


def test_metrics_count_requests_by_route(live: LiveServer) -> None:
    with live.client() as c:
        c.post("/api/ocr/document", files={"file": ("a.png", png_bytes())})
        c.get("/api/jobs/" + "a" * 32)
        c.post("/api/ocr/document", json={})  # refused by the guard, before routing
        text = c.get("/metrics").text
    assert 'tierocr_http_requests_total{method="POST",route="/api/ocr/document",status="200"} 1.0' in text
    assert 'route="/api/jobs/{job_id}",status="404"' in text
    assert 'route="/api/ocr/document",status="415"' in text
    assert 'tierocr_pages_total{tier="ocr"} 3.0' in text


def test_openapi_lists_every_endpoint(live: LiveServer) -> None:
    with live.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
    for path in (
        "/api/ocr/recognize",
        "/api/ocr/extract",
        "/api/ocr/batch",
        "/api/ocr/document",
        "/api/ocr/document/stream",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/health",
        "/api/info",
        "/metrics",
    ):
        assert path in paths, path
