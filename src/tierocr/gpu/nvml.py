"""One reading of a card through NVML: used memory and which processes hold how much of it.

A release is only proven by the card itself: a server can answer "unloaded" while a child process (vLLM's
EngineCore after its parent was killed) or an allocator cache still holds the memory. A reading before the
load and one after the release, per process, name the process that kept memory. Without NVML (no driver,
no ``nvidia-ml-py``, a CPU-only box) every function here returns None and callers say "not checked".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_MIB = 1024 * 1024


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    name: str
    used_mb: float | None  # None where the driver does not say (some containers, MIG)

    def describe(self) -> str:
        amount = f", {self.used_mb:.0f} MiB" if self.used_mb is not None else ""
        return f"pid {self.pid} ({self.name}{amount})"


@dataclass(frozen=True)
class GpuReading:
    device: int
    total_mb: float
    used_mb: float
    free_mb: float
    processes: dict[int, ProcessMemory] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "total_mb": round(self.total_mb, 1),
            "used_mb": round(self.used_mb, 1),
            "free_mb": round(self.free_mb, 1),
            "processes": [
                {"pid": p.pid, "name": p.name, "used_mb": p.used_mb} for p in self.processes.values()
            ],
        }


def process_name(pid: int) -> str:
    """The command line's first words from /proc, else its comm; "?" for a process not visible here."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if words:
        return " ".join([Path(words[0]).name, *words[1:3]])
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or "?"
    except OSError:
        return "?"


def _processes(nvml: Any, handle: Any) -> dict[int, ProcessMemory]:
    found: dict[int, ProcessMemory] = {}
    for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        fn = getattr(nvml, getter, None)
        if fn is None:
            continue
        try:
            entries = fn(handle)
        except nvml.NVMLError as exc:
            log.debug("NVML %s failed: %s", getter, exc)
            continue
        for entry in entries:
            pid = int(entry.pid)
            used = getattr(entry, "usedGpuMemory", None)
            used_mb = used / _MIB if isinstance(used, int) and used >= 0 else None
            prior = found.get(pid)
            if prior is not None and prior.used_mb is not None and used_mb is not None:
                used_mb += prior.used_mb
            found[pid] = ProcessMemory(pid, _nvml_name(nvml, pid), used_mb)
    return found


def _nvml_name(nvml: Any, pid: int) -> str:
    name = process_name(pid)
    if name != "?":
        return name
    try:
        raw = nvml.nvmlSystemGetProcessName(pid)
    except (nvml.NVMLError, AttributeError):
        return "?"
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def read_gpu(device: int) -> GpuReading | None:
    """Memory and processes of NVML device ``device``, or None where NVML cannot tell."""
    try:
        import pynvml
    except ImportError:
        log.debug("GPU reading skipped: nvidia-ml-py is not installed (pip install 'tierocr[gpu]')")
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.debug("GPU reading skipped: NVML unavailable: %s", exc)
        return None
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(device)
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
        processes = _processes(pynvml, handle)
        return GpuReading(device, info.total / _MIB, info.used / _MIB, info.free / _MIB, processes)
    except pynvml.NVMLError as exc:
        log.debug("GPU reading skipped: NVML cannot read device %d: %s", device, exc)
        return None
    finally:
        pynvml.nvmlShutdown()


def grown(before: GpuReading, after: GpuReading, margin_mb: float) -> list[ProcessMemory]:
    """Processes holding more after than before (new ones included), by more than ``margin_mb``.

    These are the ones that kept what the batch loaded; the resident LLM, unchanged, is not among them.
    A process whose memory NVML does not report counts when it is new.
    """
    out = []
    for pid, now in after.processes.items():
        then = before.processes.get(pid)
        if then is None:
            if now.used_mb is None or now.used_mb > margin_mb:
                out.append(now)
        elif now.used_mb is not None and (now.used_mb - (then.used_mb or 0.0)) > margin_mb:
            out.append(now)
    return sorted(out, key=lambda p: -(p.used_mb or 0.0))
