"""One target through the whole plan: cold, warm, throughput per concurrency, a PDF, the corpus.

The order matters: the cold request comes first (nothing loaded yet), throughput after the warm requests
(models loaded), the corpus last (it is the long part and its per-document times are warm too).
"""

from __future__ import annotations

import itertools
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tierocr.benchmark.models import (
    BenchPlan,
    DocumentSpeed,
    GpuMemory,
    LatencyStats,
    TargetResult,
    ThroughputPoint,
)
from tierocr.benchmark.runners import Reading, Runner, make_runner, page_count
from tierocr.benchmark.targets import Target
from tierocr.config import InputSettings, Settings

#: Called with a label and how many progress units were done.
Emit = Callable[[str, int], None]
#: Failed requests kept verbatim in the report; the rest are only counted.
_KEPT_ERRORS = 5
#: NVML is read at most this often while requests complete: under load, without a sampling thread.
_GPU_SAMPLE_INTERVAL_S = 0.25


class GpuSampler:
    """Device memory read as requests complete (no timer thread): the peak seen under load."""

    def __init__(self, device: int) -> None:
        from tierocr.gpu.nvml import read_gpu

        self._device = device
        self._lock = threading.Lock()
        self._last = 0.0
        reading = read_gpu(device)
        self._before = reading
        self._peak = reading.used_mb if reading is not None else 0.0

    def sample(self, *, force: bool = False) -> None:
        from tierocr.gpu.nvml import read_gpu

        if self._before is None:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < _GPU_SAMPLE_INTERVAL_S:
                return
            self._last = now
        reading = read_gpu(self._device)
        if reading is not None:
            with self._lock:
                self._peak = max(self._peak, reading.used_mb)

    def result(self) -> GpuMemory | None:
        if self._before is None:
            return None
        return GpuMemory(
            device=self._device,
            total_mb=self._before.total_mb,
            before_mb=self._before.used_mb,
            peak_mb=self._peak,
        )


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Recorder:
    """Counts failed requests and keeps the first few messages."""

    def __init__(self, result: TargetResult) -> None:
        self.result = result
        self._lock = threading.Lock()

    def failed(self, reading: Reading) -> bool:
        if reading.error is None:
            return False
        with self._lock:
            if len(self.result.request_errors) < _KEPT_ERRORS:
                self.result.request_errors.append(reading.error)
        return True


def _tokens_per_s(readings: list[Reading], seconds: float) -> float | None:
    counted = [r.tokens for r in readings if r.error is None and r.tokens is not None]
    if not counted or seconds <= 0:
        return None
    return sum(counted) / seconds


def measure_target(target: Target, plan: BenchPlan, settings: Settings, emit: Emit) -> TargetResult:
    """Every measurement of ``plan`` for ``target``; a failure to start is the result's ``error``."""
    result = TargetResult(name=target.name, spec=target.spec, kind=target.kind)
    sampler = GpuSampler(settings.gpu.device_index)
    recorder = _Recorder(result)
    try:
        runner = make_runner(target, settings, plan.rows, max(plan.concurrency))
    except Exception as exc:  # an unreachable endpoint or a missing engine: reported, others still run
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    try:
        result.model = runner.model
        _measure(runner, target, plan, result, recorder, sampler, emit)
    finally:
        runner.close()
    if target.own_process:
        result.peak_rss_mb = peak_rss_mb()
    sampler.sample(force=True)
    result.gpu = sampler.result()
    return result


def _measure(
    runner: Runner,
    target: Target,
    plan: BenchPlan,
    result: TargetResult,
    recorder: _Recorder,
    sampler: GpuSampler,
    emit: Emit,
) -> None:
    images = itertools.cycle(plan.images)
    # Cold: the first request after process start (classical) or after the server gave its model up.
    first = next(images)
    reading, result.cold_method = runner.cold(first)
    if not recorder.failed(reading):
        result.first_request_s = reading.seconds
        if target.own_process and plan.process_started is not None:
            result.cold_start_s = time.time() - plan.process_started
        else:
            result.cold_start_s = reading.seconds
    sampler.sample(force=True)
    emit("cold start", 1)

    latencies: list[float] = []
    warm: list[Reading] = []
    for _ in range(plan.warm_requests):
        reading = runner.read(next(images))
        sampler.sample()
        if not recorder.failed(reading):
            latencies.append(reading.seconds)
            warm.append(reading)
        emit("warm requests", 1)
    result.warm = LatencyStats.of(latencies)
    result.warm_tokens_per_s = _tokens_per_s(warm, sum(latencies))

    for level in plan.concurrency:
        paths = [next(images) for _ in range(plan.throughput_requests(level))]

        def done(reading: Reading, level: int = level) -> None:
            sampler.sample()
            emit(f"{level} concurrent", 1)

        seconds, readings = runner.read_many(paths, level, done)
        errors = sum(recorder.failed(r) for r in readings)
        ok = len(readings) - errors
        result.throughput.append(
            ThroughputPoint(
                concurrency=level,
                requests=len(readings),
                workers=runner.workers(level),
                seconds=seconds,
                images_per_s=ok / seconds if seconds > 0 else 0.0,
                tokens_per_s=_tokens_per_s(readings, seconds),
                errors=errors,
            )
        )

    if plan.pdf is not None:
        result.pdf = _document_speed(runner, plan.pdf, runner.settings.input)
        sampler.sample(force=True)
        emit("PDF", 1)

    if plan.rows:
        from tierocr.evaluation.runner import evaluate_rows

        result.corpus = evaluate_rows(
            plan.rows,
            [runner.document_system()],
            outputs_dir=plan.outputs_dir,
            progress=lambda row: (sampler.sample(), emit(row.id, 1)),
        )
        timed = [
            r.results[target.name]
            for r in result.corpus
            if target.name in r.results and r.results[target.name].error is None
        ]
        seconds = sum(r.seconds or 0.0 for r in timed)
        pages = sum(r.pages or 0 for r in timed)
        result.corpus_pages_per_s = pages / seconds if seconds > 0 else None


def _document_speed(runner: Runner, pdf: Path, settings_input: InputSettings) -> DocumentSpeed:
    pages = page_count(pdf, settings_input)
    system = runner.document_system()
    started = time.perf_counter()
    try:
        system(pdf, None)
    except Exception as exc:  # reported beside the other numbers
        seconds = time.perf_counter() - started
        return DocumentSpeed(
            pages=pages, seconds=seconds, pages_per_s=0.0, error=f"{type(exc).__name__}: {exc}"
        )
    seconds = time.perf_counter() - started
    return DocumentSpeed(pages=pages, seconds=seconds, pages_per_s=pages / seconds if seconds > 0 else 0.0)
