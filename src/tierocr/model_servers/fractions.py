"""Two servers on one card: refuse a launch whose memory fractions do not fit, with the arithmetic shown.

vLLM claims ``--gpu-memory-utilization`` of the card up front (weights plus KV cache) and keeps it; two
instances whose fractions add up past the card fail late, inside CUDA, with the first one's LLM users
seeing the errors. The sum is checked against ``gpu.max_memory_fraction`` (0.95: the driver and the
CUDA contexts need the rest), and the new server's share against what NVML says is free right now.
"""

from __future__ import annotations

from tierocr.gpu.nvml import GpuReading
from tierocr.model_servers.registry import ServerError


def check_fractions(
    name: str,
    fraction: float,
    others: list[tuple[str, float]],
    limit: float,
    reading: GpuReading | None,
) -> list[str]:
    """Raise :class:`ServerError` when ``name``'s ``fraction`` does not fit; returns the lines of
    arithmetic that passed, for the launch to print."""
    if not 0.0 <= fraction <= 1.0:
        raise ServerError(f"{name}: a memory fraction of {fraction:g} is not between 0 and 1")
    if fraction == 0.0:
        return []  # claims nothing up front (vlm-serve, Ollama: loaded per batch, under the lease)
    parts = [*others, (name, fraction)]
    total = sum(f for _, f in parts)
    terms = " + ".join(f"{n} {f:.2f}" for n, f in parts)
    sum_line = f"memory fractions: {terms} = {total:.2f} of the card (limit {limit:.2f})"
    if total > limit + 1e-9:
        raise ServerError(
            f"refusing to launch {name}: {sum_line.removeprefix('memory fractions: ')}, above the limit: "
            f"lower --gpu-memory-utilization or stop a server (gpu.max_memory_fraction sets the limit)"
        )
    lines = [sum_line]
    if reading is None:
        lines.append("free memory not checked (NVML unavailable)")
        return lines
    wanted = fraction * reading.total_mb
    free_line = (
        f"{name} takes {fraction:.2f} x {reading.total_mb:.0f} MiB = {wanted:.0f} MiB; "
        f"{reading.free_mb:.0f} MiB of GPU {reading.device} are free now"
    )
    if wanted > reading.free_mb:
        raise ServerError(
            f"refusing to launch {name}: {free_line}: free memory or lower --gpu-memory-utilization"
        )
    lines.append(free_line)
    return lines
