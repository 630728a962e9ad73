"""/health and /api/info say where the models run: the device asked for, the one used, and why not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server_helpers import FakePipeline, LiveServer

from tierocr.config import Settings
from tierocr.pipeline import Pipeline

FELL_BACK = {
    "requested": "cuda",
    "device": "cpu",
    "providers": {"ocr_det": "CPUExecutionProvider", "ocr_rec": "CPUExecutionProvider"},
    "fallback": ["ocr.device=cuda, but this onnxruntime has no CUDA execution provider"],
}


class ReportingPipeline(FakePipeline):
    def compute_info(self) -> dict[str, Any]:
        return FELL_BACK


def test_health_and_info_report_a_cuda_request_that_runs_on_the_cpu(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    fake = ReportingPipeline()
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        ocr = c.get("/health").json()["tiers"]["ocr"]
        info = c.get("/api/info").json()
    assert ocr["device"] == "cpu" and ocr["providers"] == FELL_BACK["providers"]
    assert ocr["fallback"] == FELL_BACK["fallback"]
    assert info["compute"] == FELL_BACK
    assert info["pipeline"]["workers"] >= 1 and info["pipeline"]["backend"] == "thread"


def test_a_served_pipeline_reports_the_cpu_without_loading_a_model(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(settings, pipeline_factory=lambda s: Pipeline(s))
    with server.client() as c:
        info = c.get("/api/info").json()
    assert info["compute"]["device"] == "cpu"
    onnx = {k: v for k, v in info["compute"]["providers"].items() if k != "ocr_tesseract"}
    assert set(onnx.values()) == {"CPUExecutionProvider"}
