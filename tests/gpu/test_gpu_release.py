"""A leased escalation batch leaves the card: the exact calls to fake Ollama and vLLM servers, the lease
given back only after the server reports the model gone, failures reported (never taken for a release),
and the fake NVML's before/after figures with the process that kept memory named."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_backends import (
    LLM_PID,
    OLLAMA_PID,
    VLLM_ENGINE_PID,
    CallLog,
    FakeNvml,
    FakeOllama,
    FakeOpenAI,
    FakeVllm,
)
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from tierocr.config import GpuSettings, Settings
from tierocr.document import Page, Tier
from tierocr.escalation import Escalator, escalate_pages_async
from tierocr.gpu.cli import gpu_app
from tierocr.gpu.file_lease import FileLease
from tierocr.gpu.lease import Cancel, Hold
from tierocr.gpu.release import CANNOT_RELEASE, FAILED, RELEASED, read_record, record_path

CHAT = "POST /v1/chat/completions"


class RecordingLease(FileLease):
    """The real file lease, writing its grants and releases into the servers' call log."""

    def __init__(self, log: CallLog, gpu: GpuSettings) -> None:
        super().__init__(gpu.lease, gpu.lock_dir, gpu.default_priority, gpu.acquire_timeout_s)
        self.log = log

    def _acquire(
        self, owner: str, priority: int, deadline: float | None, cancel: Cancel, on_queued: Any = None
    ) -> Hold:
        hold = super()._acquire(owner, priority, deadline, cancel, on_queued)
        self.log.add("lease acquired")
        return hold

    def _release(self, hold: Hold) -> None:
        self.log.add("lease released")
        super()._release(hold)


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml(total_mb=24_000, llm_mb=9_000)
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    return fake


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)


def make_settings(tmp_path: Path, url: str, **vlm: Any) -> Settings:
    gpu = {
        "lock_dir": str(tmp_path / "locks"),
        "lease": f"t{uuid.uuid4().hex[:10]}",
        "release_margin_mb": 512,
    }
    base = {
        "url": url,
        "model": "glm-ocr",
        "escalate": "always",
        "retries": 0,
        "use_lease": True,
        "release_timeout_s": 5.0,
    }
    return Settings(vlm={**base, **vlm}, gpu=gpu, data_dir=tmp_path / "data")


def pages(n: int = 3) -> list[tuple[Page, Image.Image]]:
    items = []
    for i in range(1, n + 1):
        image = Image.new("RGB", (160, 60), "white")
        ImageDraw.Draw(image).text((4, 4), f"Invoice {i}", fill="black")
        items.append((Page(number=i, width=160, height=60, dpi=72, tier=Tier.OCR), image))
    return items


def run_batch(settings: Settings, lease: RecordingLease, n: int = 3) -> list[Page]:
    return asyncio.run(escalate_pages_async(pages(n), settings, lease=lease))


def test_ollama_unloads_and_is_gone_from_ps_before_the_lease_is_released(
    tmp_path: Path, nvml: FakeNvml
) -> None:
    log = CallLog()
    with FakeOllama(log, nvml, unload_lag=1) as ollama:
        settings = make_settings(tmp_path, ollama.url, backend="ollama")
        out = run_batch(settings, RecordingLease(log, settings.gpu))
    assert [p.tier for p in out] == [Tier.VLM] * 3
    assert log.calls == [
        "lease acquired",
        CHAT,
        CHAT,
        CHAT,
        "POST /api/generate keep_alive=0",
        "GET /api/ps -> glm-ocr:latest",  # Ollama unloads in the background: still listed once
        "GET /api/ps -> (none)",
        "lease released",
    ]
    record = read_record(record_path(settings.gpu))
    assert record is not None and record.status == RELEASED and record.backend == "ollama"
    assert (record.before_mb, record.loaded_mb, record.after_mb) == (9000, 12000, 9000)
    assert record.memory_ok is True and record.holders == []


def test_ollama_is_detected_once_and_unloaded_after_every_batch(tmp_path: Path, no_nvml: None) -> None:
    log = CallLog()
    with FakeOllama(log, unload_lag=0) as ollama:
        settings = make_settings(tmp_path, ollama.url)  # backend: auto
        escalator = Escalator(settings)
        escalator.escalate_pages(pages(1))
        escalator.escalate_pages(pages(2))
    assert log.calls == [
        "GET /api/version",
        CHAT,
        "POST /api/generate keep_alive=0",
        "GET /api/ps -> (none)",
        CHAT,
        CHAT,
        "POST /api/generate keep_alive=0",
        "GET /api/ps -> (none)",
    ]
    record = read_record(record_path(settings.gpu))
    assert record is not None and record.status == RELEASED
    assert record.before_mb is None and "not checked" in record.memory_line()


def test_ollama_that_keeps_the_model_is_reported_and_the_holder_named(
    tmp_path: Path, nvml: FakeNvml, caplog: pytest.LogCaptureFixture
) -> None:
    log = CallLog()
    with FakeOllama(log, nvml, stuck=True) as ollama:
        settings = make_settings(tmp_path, ollama.url, backend="ollama", release_timeout_s=0.3)
        with caplog.at_level(logging.WARNING, logger="tierocr.gpu.release"):
            out = run_batch(settings, RecordingLease(log, settings.gpu), n=1)
    assert out[0].tier is Tier.VLM  # the pages are fine; it is the card that is not
    assert log.calls[:4] == [
        "lease acquired",
        CHAT,
        "POST /api/generate keep_alive=0",
        "GET /api/ps -> glm-ocr:latest",
    ]
    assert set(log.calls[3:-1]) == {"GET /api/ps -> glm-ocr:latest"} and log.calls[-1] == "lease released"
    record = read_record(record_path(settings.gpu))
    assert record is not None and record.status == FAILED and "still loaded after 0.3 s" in record.detail
    assert record.memory_ok is False
    assert record.holders == [{"pid": OLLAMA_PID, "name": "ollama_llama_server", "used_mb": 3000.0}]
    assert "did not release" in caplog.text
    assert f"still holding memory: pid {OLLAMA_PID} (ollama_llama_server, 3000 MiB)" in caplog.text


def test_vllm_is_woken_before_and_put_to_sleep_after_each_batch(tmp_path: Path, nvml: FakeNvml) -> None:
    log = CallLog()
    with FakeVllm(log, nvml, asleep=True) as vllm:
        settings = make_settings(tmp_path, vllm.url, backend="vllm")
        lease = RecordingLease(log, settings.gpu)
        first = run_batch(settings, lease, n=2)
        record = read_record(record_path(settings.gpu))
        second = run_batch(settings, lease, n=1)
    assert [p.tier for p in first + second] == [Tier.VLM] * 3
    one_batch = [
        "lease acquired",
        "GET /is_sleeping -> true",
        "POST /wake_up",
        "GET /is_sleeping -> false",
    ]
    assert log.calls == [
        *one_batch,
        CHAT,
        CHAT,
        "POST /sleep?level=1",
        "GET /is_sleeping -> true",
        "lease released",
        *one_batch,
        CHAT,
        "POST /sleep?level=1",
        "GET /is_sleeping -> true",
        "lease released",
    ]
    assert record is not None and record.status == RELEASED and record.action == "POST /sleep?level=1"
    assert (record.before_mb, record.loaded_mb, record.after_mb, record.memory_ok) == (
        9000,
        15000,
        9000,
        True,
    )


def test_vllm_sleep_level_2_reloads_the_weights_on_waking(tmp_path: Path, no_nvml: None) -> None:
    log = CallLog()
    with FakeVllm(log, asleep=True) as vllm:
        settings = make_settings(tmp_path, vllm.url, backend="vllm", sleep_level=2)
        run_batch(settings, RecordingLease(log, settings.gpu), n=1)
    assert log.calls == [
        "lease acquired",
        "GET /is_sleeping -> true",
        "POST /wake_up?tags=weights",
        "POST /collective_rpc reload_weights",
        "POST /wake_up?tags=kv_cache",
        "GET /is_sleeping -> false",
        CHAT,
        "POST /sleep?level=2",
        "GET /is_sleeping -> true",
        "lease released",
    ]


def test_vllm_without_sleep_mode_is_reported_resident(
    tmp_path: Path, nvml: FakeNvml, caplog: pytest.LogCaptureFixture
) -> None:
    log = CallLog()
    with FakeVllm(log, nvml, sleep_mode=False) as vllm:
        settings = make_settings(tmp_path, vllm.url)  # auto: /version says vLLM
        with caplog.at_level(logging.WARNING, logger="tierocr.gpu.release"):
            run_batch(settings, RecordingLease(log, settings.gpu), n=1)
    assert log.calls == [
        "GET /api/version -> 404",
        "GET /health",  # vLLM's is empty, not vlm-serve's with model_loaded
        "GET /is_sleeping -> 404",
        "GET /version",
        "lease acquired",
        "GET /is_sleeping -> 404",
        CHAT,
        "POST /sleep?level=1 -> 404",
        "lease released",
    ]
    record = read_record(record_path(settings.gpu))
    assert record is not None and record.status == CANNOT_RELEASE and "--enable-sleep-mode" in record.detail
    assert record.memory_ok is True  # it was resident before the batch too: nothing new stayed
    assert record.before_mb == record.after_mb == 15000


def test_vllm_that_keeps_memory_through_sleep_is_named(
    tmp_path: Path, nvml: FakeNvml, caplog: pytest.LogCaptureFixture
) -> None:
    log = CallLog()
    with FakeVllm(log, nvml, asleep=True, leak_mb=2000) as vllm:
        settings = make_settings(tmp_path, vllm.url, backend="vllm")
        with caplog.at_level(logging.WARNING, logger="tierocr.gpu.release"):
            run_batch(settings, RecordingLease(log, settings.gpu), n=1)
    record = read_record(record_path(settings.gpu))
    assert record is not None and record.status == RELEASED  # the server said so ...
    assert record.memory_ok is False  # ... the card says otherwise
    assert (record.before_mb, record.after_mb) == (9000, 11000)
    assert record.holders == [{"pid": VLLM_ENGINE_PID, "name": "VLLM::EngineCore", "used_mb": 2000.0}]
    assert all(h["pid"] != LLM_PID for h in record.holders)  # the LLM's unchanged memory is not blamed
    assert f"still holding memory: pid {VLLM_ENGINE_PID} (VLLM::EngineCore, 2000 MiB)" in caplog.text
    assert "9000 MiB before the load, 15000 MiB under load, 11000 MiB after the release" in caplog.text


def test_vllm_that_will_not_sleep_is_a_failed_release(tmp_path: Path, no_nvml: None) -> None:
    log = CallLog()
    with FakeVllm(log, ignores_sleep=True) as vllm:
        settings = make_settings(tmp_path, vllm.url, backend="vllm", release_timeout_s=0.3)
        run_batch(settings, RecordingLease(log, settings.gpu), n=1)
    record = read_record(record_path(settings.gpu))
    assert record is not None and record.status == FAILED and "/is_sleeping says False" in record.detail
    assert log.calls[-1] == "lease released" and log.calls[-2] == "GET /is_sleeping -> false"


def test_vllm_that_will_not_wake_keeps_the_classical_pages(tmp_path: Path, no_nvml: None) -> None:
    log = CallLog()
    with FakeVllm(log, asleep=True, refuses_wake=True) as vllm:
        settings = make_settings(tmp_path, vllm.url, backend="vllm")
        out = run_batch(settings, RecordingLease(log, settings.gpu), n=1)
    assert out[0].tier is Tier.OCR and "classical result kept" in (out[0].tier_reason or "")
    assert "/wake_up answered 500" in out[0].errors[0].message
    assert log.calls == [
        "lease acquired",
        "GET /is_sleeping -> true",
        "POST /wake_up -> 500",
        "POST /sleep?level=1",  # a half-woken server is put back to sleep before the lease goes
        "GET /is_sleeping -> true",
        "lease released",
    ]


def _gpu_status(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.delenv("TIEROCR_CONFIG", raising=False)
    monkeypatch.setenv("TIEROCR_VLM_URL", settings.vlm.url or "")
    monkeypatch.setenv("TIEROCR_GPU_LOCK_DIR", str(settings.gpu.lock_dir))
    return CliRunner().invoke(gpu_app, ["status", "--lease", settings.gpu.lease, *args])


def test_plain_openai_endpoint_is_reported_resident_by_gpu_status_and_health(
    tmp_path: Path, nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = CallLog()
    with FakeOpenAI(log, nvml) as openai:
        settings = make_settings(tmp_path, openai.url)
        run_batch(settings, RecordingLease(log, settings.gpu), n=1)
        batch = list(log.calls)
        table = _gpu_status(settings, monkeypatch)
        as_json = _gpu_status(settings, monkeypatch, "--json")
        health = _api_health(settings)
    assert batch == [
        "GET /api/version -> 404",
        "GET /health -> 404",
        "GET /is_sleeping -> 404",
        "GET /version -> 404",
        "lease acquired",
        CHAT,
        "lease released",  # nothing to call: no release claimed either
    ]
    record = read_record(record_path(settings.gpu))
    assert record is not None and record.status == CANNOT_RELEASE
    assert table.exit_code == 0, table.output
    assert f"OCR-VL server: openai at {settings.vlm.url}: resident: cannot release" in table.output
    assert "last release" in table.output and "openai): resident: cannot release" in table.output
    assert (
        "GPU used 9000 MiB before the load, 9000 MiB under load, 9000 MiB after the release" in table.output
    )
    import json

    state = json.loads(as_json.output)
    assert state["vlm"]["release"] == CANNOT_RELEASE and state["last_release"]["status"] == CANNOT_RELEASE
    vlm = health["tiers"]["vlm"]
    assert vlm["backend"] == "openai" and vlm["release"] == CANNOT_RELEASE
    assert vlm["last_release"]["status"] == CANNOT_RELEASE and vlm["last_release"]["before_mb"] == 9000


def _api_health(settings: Settings) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from tierocr.server.app import create_app

    class Engine:
        name = "stub"

        def version(self) -> str:
            return "0"

    engine: Callable[[Any], Any] = lambda _s: Engine()  # noqa: E731
    with TestClient(create_app(settings, engine_factory=engine)) as client:
        return client.get("/health").json()


def test_gpu_status_shows_the_last_release_with_the_process_holding_memory(
    tmp_path: Path, nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = CallLog()
    with FakeVllm(log, nvml, asleep=True, leak_mb=2000) as vllm:
        settings = make_settings(tmp_path, vllm.url, backend="vllm")
        run_batch(settings, RecordingLease(log, settings.gpu), n=1)
        monkeypatch.setenv("TIEROCR_VLM_BACKEND", "vllm")
        table = _gpu_status(settings, monkeypatch)
    assert table.exit_code == 0, table.output
    assert "sleep level 1, checked in /is_sleeping" in table.output
    assert "did NOT come back (margin 512 MiB)" in table.output
    assert f"still holding memory: pid {VLLM_ENGINE_PID} (VLLM::EngineCore, 2000 MiB)" in table.output


def test_api_vlm_task_is_a_leased_batch_of_one(tmp_path: Path, no_nvml: None) -> None:
    from tierocr.server.vlm import ClientVlmTasks

    log = CallLog()
    with FakeOllama(log, unload_lag=0) as ollama:
        settings = make_settings(tmp_path, ollama.url, backend="ollama")
        tasks = ClientVlmTasks(settings)
        tasks.lease = RecordingLease(log, settings.gpu)
        text = tasks.recognize(pages(1)[0][1], "table")
    assert "Total due" in text
    assert log.calls == [
        "lease acquired",
        CHAT,
        "POST /api/generate keep_alive=0",
        "GET /api/ps -> (none)",
        "lease released",
    ]
