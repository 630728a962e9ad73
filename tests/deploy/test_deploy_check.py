"""`tierocr deploy check`: its verdicts against a scripted API, and a full run against a real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.deploy.check import Report, run_check

HERE = Path(__file__).resolve().parent
runner = CliRunner()


def _api(document_status: int = 200, vlm: bool = False) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/health":
            tiers = {"ocr": {"ready": True}, "vlm": {"ready": True, "configured": vlm}}
            return httpx.Response(200, json={"status": "ok", "version": "t", "tiers": tiers})
        if path == "/api/ocr/recognize":
            task = request.content.split(b'name="task"\r\n\r\n')[1].split(b"\r\n")[0].decode()
            if task == "text":
                return httpx.Response(
                    200, json={"task": "text", "text": "Invoice 4711 Total 1,250", "tier": "ocr"}
                )
            if not vlm:
                return httpx.Response(503, json={"detail": "needs the vision-language tier"})
            key = "html" if task == "table" else "latex"
            return httpx.Response(
                200, json={"task": task, key: "<table></table>" if key == "html" else "x", "tier": "vlm"}
            )
        if path == "/api/ocr/document":
            if document_status != 200:
                return httpx.Response(document_status, json={"detail": "boom"})
            return httpx.Response(200, json={"pages_parsed": 2, "markdown": "Invoice 4711\n\nTotal 1250"})
        return httpx.Response(404)

    return handle


def _run(handler: Callable[[httpx.Request], httpx.Response]) -> Report:
    return run_check(
        "http://api.test", api_key="k", timeout_s=5, concurrency=5, transport=httpx.MockTransport(handler)
    )


def test_vlm_tasks_are_skipped_not_failed_on_a_classical_only_server() -> None:
    report = _run(_api())
    by = {s.name: s for s in report.steps}
    assert report.ok
    assert by["recognize table"].ok is None and "no VLM tier" in by["recognize table"].detail
    assert by["health"].detail.endswith("ready: ocr=yes, vlm=not configured")
    assert by["5 concurrent images"].requests == 5 and by["5 concurrent images"].images == 5
    assert by["short PDF"].pages == 2 and by["short PDF"].figures()["pages_per_s"] is not None


def test_a_vlm_server_must_answer_the_vlm_tasks() -> None:
    report = _run(_api(vlm=True))
    assert report.ok and all(s.ok for s in report.steps)
    assert report.steps[0].detail.endswith("ready: ocr=yes, vlm=yes")


def test_a_failing_route_fails_the_check() -> None:
    report = _run(_api(document_status=500))
    assert not report.ok
    pdf = next(s for s in report.steps if s.name == "short PDF")
    assert pdf.ok is False and "HTTP 500" in pdf.detail


def test_an_unreachable_server_fails_at_health() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    report = _run(refuse)
    assert [s.name for s in report.steps] == ["health"] and report.steps[0].ok is False


@pytest.mark.slow
def test_check_against_a_real_server_with_a_vlm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real app under uvicorn (as `tierocr serve` runs it) with RapidOCR, and a fake VLM endpoint."""
    monkeypatch.syspath_prepend(str(HERE.parent / "server"))
    monkeypatch.syspath_prepend(str(HERE.parent / "escalation"))
    from fake_vlm import FakeVlm
    from server_helpers import LiveServer

    from tierocr.config import Settings
    from tierocr.server.app import create_app

    with FakeVlm() as vlm:
        settings = Settings.model_validate(
            {"data_dir": str(tmp_path / "data"), "vlm": {"url": vlm.url}, "server": {"api_key": "secret"}}
        )
        server = LiveServer(create_app(settings))
        try:
            out = tmp_path / "check.json"
            result = runner.invoke(
                app,
                ["deploy", "check", server.url, "--json", str(out)],
                env={"TIEROCR_SERVER_API_KEY": "secret"},
            )
        finally:
            server.stop()
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["ok"] and [s["ok"] for s in report["steps"]] == [True] * 6
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["5 concurrent images"]["images_per_s"] > 0 and steps["short PDF"]["pages_per_s"] > 0
    assert "images/s" in result.output and "all checks passed" in result.output
