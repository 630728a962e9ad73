"""VRAM arithmetic of one card: what is left for OCR-VL after the resident models, and what a backend needs.

Kept apart from the plan so every number a plan prints comes from one function that tests can check
against every preset: a refusal must say exactly which subtraction went negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tierocr.deploy.presets import GpuPreset, ModelSpec, VlmBackend

MIB_PER_GIB = 1024


def gib(mib: float) -> str:
    return f"{mib / MIB_PER_GIB:.1f} GiB"


@dataclass(frozen=True)
class Fit:
    """Whether one backend fits one card, with the reason either way."""

    backend: VlmBackend
    ok: bool
    reason: str
    need_mib: int = 0
    budget_mib: int = 0


@dataclass
class CardMemory:
    """One card of a plan: its preset, what lives on it and what is left."""

    index: int
    preset: GpuPreset
    llm_mib: int
    headroom_mib: int
    lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total_mib(self) -> int:
        return self.preset.memory_mib

    @property
    def free_mib(self) -> int:
        return self.total_mib - self.llm_mib - self.headroom_mib

    @property
    def shared(self) -> bool:
        return self.llm_mib > 0

    @property
    def label(self) -> str:
        return f"GPU {self.index} {self.preset.key}" if self.preset.is_gpu else "CPU"

    def arithmetic(self) -> list[tuple[str, str]]:
        """The subtraction as printable (label, amount) rows."""
        if not self.preset.is_gpu:
            return [("memory", "host RAM (no GPU)")]
        rows = [(f"{self.preset.key} total memory", gib(self.total_mib))]
        if self.llm_mib:
            rows.append(("- resident LLM (shared card)", gib(self.llm_mib)))
        rows.append(("- headroom (gpu.headroom_mb)", gib(self.headroom_mib)))
        rows.append(("= free for OCR-VL", gib(self.free_mib)))
        return rows

    def fit(self, backend: VlmBackend, model: ModelSpec) -> Fit:
        """Does ``backend`` serving ``model`` fit this card? The reason names the numbers either way."""
        preset = self.preset
        if backend == "none":
            return Fit("none", True, "classical tiers only: no OCR-VL process")
        if backend == "vllm":
            return self._fit_vllm(model)
        if not preset.is_gpu:
            return Fit("vlm-serve", True, "vlm-serve on the CPU (float32): tens of seconds per region")
        dtype = preset.vlm_serve.dtype
        need = model.serve_need_mib(dtype)
        detail = f"{dtype} weights {gib(model.weights_mib[dtype])} + runtime {gib(model.runtime_mib)}"
        if need > self.free_mib:
            return Fit(
                "vlm-serve",
                False,
                f"{self.label}: vlm-serve needs {gib(need)} ({detail}) but only {gib(self.free_mib)} "
                f"are free ({self._free_formula()})",
                need,
            )
        return Fit(
            "vlm-serve",
            True,
            f"vlm-serve needs {gib(need)} ({detail}); {gib(self.free_mib - need)} to spare",
            need,
        )

    def _fit_vllm(self, model: ModelSpec) -> Fit:
        preset = self.preset
        cc = preset.compute_capability
        if cc is None or cc < model.vllm_min_compute_capability:
            where = f"compute capability {cc}" if cc is not None else "no GPU"
            return Fit(
                "vllm",
                False,
                f"{self.label}: {where} < {model.vllm_min_compute_capability}: no vLLM here "
                "(use vlm-serve or classical only)",
            )
        if preset.vllm is None:
            return Fit("vllm", False, f"{self.label}: the preset has no vLLM flags")
        util = preset.vllm.gpu_memory_utilization
        budget = int(util * self.total_mib)
        need = model.vllm_need_mib()
        detail = (
            f"bfloat16 weights {gib(model.weights_mib['bfloat16'])} + runtime {gib(model.runtime_mib)} + "
            f"KV cache at least {gib(model.min_kv_cache_mib)}"
        )
        if budget < need:
            return Fit(
                "vllm",
                False,
                f"{self.label}: --gpu-memory-utilization {util} gives vLLM {gib(budget)}, below its need "
                f"of {gib(need)} ({detail})",
                need,
                budget,
            )
        if budget > self.free_mib:
            largest = math.floor(100 * self.free_mib / self.total_mib) / 100  # rounded down: it must fit
            hint = f"; the largest utilization that fits is {largest:.2f}, " + (
                "enough" if largest * self.total_mib >= need else f"below the need of {gib(need)}"
            )
            return Fit(
                "vllm",
                False,
                f"{self.label}: --gpu-memory-utilization {util} x {gib(self.total_mib)} = {gib(budget)}, "
                f"more than the {gib(self.free_mib)} free ({self._free_formula()}){hint}",
                need,
                budget,
            )
        return Fit(
            "vllm",
            True,
            f"vLLM gets {util} x {gib(self.total_mib)} = {gib(budget)} >= need {gib(need)} ({detail}); "
            f"KV cache {gib(budget - model.weights_mib['bfloat16'] - model.runtime_mib)}",
            need,
            budget,
        )

    def _free_formula(self) -> str:
        parts = [gib(self.total_mib)]
        if self.llm_mib:
            parts.append(f"{gib(self.llm_mib)} LLM")
        parts.append(f"{gib(self.headroom_mib)} headroom")
        return " - ".join(parts)
