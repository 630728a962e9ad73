"""How many pages at once, and how many threads each ONNX model may use beside them."""

from __future__ import annotations

import os

from tierocr.config import PipelineSettings


def available_cores() -> int:
    """CPU cores this process may run on (a container's or taskset's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def page_workers(settings: PipelineSettings) -> int:
    """Pages worked on at once: the setting, or one per available core."""
    return settings.workers or available_cores()


def pages_in_flight(settings: PipelineSettings, workers: int) -> int:
    """Pages opened but not yet delivered, at most. Pages are delivered in order, so one slow page (a
    figure full of text to OCR) holds back those read after it: room for a few per worker keeps the
    others working meanwhile (a page read and waiting holds its text only, see ``read_page``)."""
    return settings.max_pages_in_flight or 4 * workers


def model_threads(configured: int, workers: int) -> int:
    """Intra-op threads of each ONNX model: the setting, else the runtime's choice (0) for one worker,
    else the cores shared out, since page workers running the models with all cores each would fight
    over them (onnxruntime's threads spin while they wait)."""
    if configured or workers <= 1:
        return configured
    return max(1, available_cores() // workers)
