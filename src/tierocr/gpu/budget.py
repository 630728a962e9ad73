"""Refuse to load a model that cannot fit beside what already lives on the card.

The resident LLM keeps its weights on the GPU even while the OCR side holds the lease, so "the lease is
ours" does not mean "the memory is ours". Loading a model that does not fit would either fail deep inside
the runtime with an opaque CUDA error or, worse, push the LLM out. NVML reports free memory per device;
where it is missing (no driver, no ``nvidia-ml-py``, a CPU-only box) the check is skipped with a debug log,
because refusing everywhere NVML is absent would break CPU-only and non-NVIDIA deployments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierocr.errors import TierOcrError

if TYPE_CHECKING:
    from tierocr.config import GpuSettings

log = logging.getLogger(__name__)

_MIB = 1024 * 1024


class GpuBudgetError(TierOcrError):
    """The model does not fit in the GPU's free memory plus the configured headroom."""

    def __init__(
        self, what: str, needed_mb: float, headroom_mb: float, free_mb: float, total_mb: float, device: int
    ):
        super().__init__(
            f"{what} needs {needed_mb:.0f} MiB plus {headroom_mb:.0f} MiB headroom "
            f"({needed_mb + headroom_mb:.0f} MiB) on GPU {device}, but only {free_mb:.0f} MiB of "
            f"{total_mb:.0f} MiB are free; free memory on the card or lower gpu.headroom_mb"
        )
        self.needed_mb = needed_mb
        self.headroom_mb = headroom_mb
        self.free_mb = free_mb
        self.total_mb = total_mb
        self.device = device


@dataclass(frozen=True)
class GpuMemory:
    device: int
    total_mb: float
    free_mb: float
    used_mb: float


def gpu_memory(device: int) -> GpuMemory | None:
    """Memory of NVML device ``device``, or None where NVML cannot tell (the check is then skipped)."""
    try:
        import pynvml
    except ImportError:
        log.debug("GPU budget check skipped: nvidia-ml-py is not installed (pip install 'tierocr[gpu]')")
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.debug("GPU budget check skipped: NVML unavailable: %s", exc)
        return None
    try:
        info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(device))
        return GpuMemory(device, info.total / _MIB, info.free / _MIB, info.used / _MIB)
    except pynvml.NVMLError as exc:
        log.debug("GPU budget check skipped: NVML cannot read device %d: %s", device, exc)
        return None
    finally:
        pynvml.nvmlShutdown()


def check_budget(needed_mb: float, settings: GpuSettings, what: str = "the OCR-VL model") -> GpuMemory | None:
    """Raise :class:`GpuBudgetError` unless ``needed_mb`` plus ``settings.headroom_mb`` is free.

    Call it while holding the lease and right before loading, so the reading is not stale. Returns the
    reading, or None when NVML is unavailable and the check was skipped.
    """
    memory = gpu_memory(settings.device_index)
    if memory is None:
        return None
    if needed_mb + settings.headroom_mb > memory.free_mb:
        raise GpuBudgetError(
            what, needed_mb, settings.headroom_mb, memory.free_mb, memory.total_mb, settings.device_index
        )
    return memory
