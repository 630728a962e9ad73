"""The NVML budget check, the `tierocr gpu` commands and the gpu settings section."""

from __future__ import annotations

import json
import logging
import sys
import threading
import types
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tierocr.config import GpuSettings, load_settings
from tierocr.gpu import create_lease
from tierocr.gpu.budget import GpuBudgetError, check_budget
from tierocr.gpu.cli import gpu_app

MIB = 1024 * 1024


def _fake_nvml(free_mb: int, total_mb: int, fail_init: bool = False) -> types.ModuleType:
    module = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def init() -> None:
        if fail_init:
            raise NVMLError("Driver Not Loaded")

    module.NVMLError = NVMLError  # type: ignore[attr-defined]
    module.nvmlInit = init  # type: ignore[attr-defined]
    module.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda index: index  # type: ignore[attr-defined]
    module.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(  # type: ignore[attr-defined]
        total=total_mb * MIB, free=free_mb * MIB, used=(total_mb - free_mb) * MIB
    )
    return module


def test_budget_refuses_a_model_that_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(free_mb=6000, total_mb=24000))
    settings = GpuSettings(headroom_mb=1024)
    with pytest.raises(GpuBudgetError) as info:
        check_budget(5500, settings, what="GLM-OCR")
    message = str(info.value)
    assert "GLM-OCR needs 5500 MiB plus 1024 MiB headroom (6524 MiB)" in message
    assert "only 6000 MiB of 24000 MiB are free" in message
    memory = check_budget(4000, settings)
    assert memory is not None
    assert memory.free_mb == 6000


@pytest.mark.parametrize("nvml", [None, _fake_nvml(1, 1, fail_init=True)])
def test_budget_is_skipped_without_nvml(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, nvml: types.ModuleType | None
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", nvml)  # None makes the import fail
    with caplog.at_level(logging.DEBUG, logger="tierocr.gpu.budget"):
        assert check_budget(10**9, GpuSettings()) is None
    assert "budget check skipped" in caplog.text


def test_gpu_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TIEROCR_CONFIG", raising=False)
    monkeypatch.setenv("TIEROCR_GPU_BACKEND", "redis")
    monkeypatch.setenv("TIEROCR_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setenv("TIEROCR_GPU_RESIDENT", "true")
    gpu = load_settings().gpu
    assert (gpu.backend, gpu.lock_dir, gpu.resident) == ("redis", tmp_path, True)
    assert GpuSettings().resident is False  # the deployment rule: the OCR-VL model does not stay loaded


@pytest.mark.parametrize(
    "bad", [{"renew_interval_s": 30.0, "ttl_s": 30.0}, {"backend": "etcd"}, {"lease": "a/b"}]
)
def test_gpu_settings_refuse_unsafe_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GpuSettings(**bad)


def test_status_command_shows_holder_and_queue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIEROCR_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.delenv("TIEROCR_CONFIG", raising=False)
    lease = create_lease("gpu7", GpuSettings(lock_dir=tmp_path))
    runner = CliRunner()
    release = threading.Event()
    queued = threading.Event()

    def waiter() -> None:
        with create_lease("gpu7", GpuSettings(lock_dir=tmp_path)).acquire(priority=3, on_queued=queued.set):
            release.wait(10)

    with lease.acquire(priority=100) as hold:
        thread = threading.Thread(target=waiter)
        thread.start()
        assert queued.wait(10)
        result = runner.invoke(gpu_app, ["status", "--lease", "gpu7", "--json"])
        table = runner.invoke(gpu_app, ["status", "--lease", "gpu7"])
    release.set()
    thread.join(10)
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert state["holder"]["token"] == hold.token
    assert state["holder"]["priority"] == 100
    assert [w["priority"] for w in state["waiters"]] == [3]
    assert table.exit_code == 0
    assert f"token {hold.token}" in table.output
    assert "priority" in table.output


def test_guard_command_needs_an_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIEROCR_GPU_GUARD_UPSTREAM", raising=False)
    monkeypatch.delenv("TIEROCR_CONFIG", raising=False)
    result = CliRunner().invoke(gpu_app, ["guard", "--lease", "gpu0"])
    assert result.exit_code == 2
    assert "--upstream" in result.output
