"""The measurements of a benchmark run: what a plan asks for, what each target gave, the whole report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tierocr.evaluation.corpus import ManifestRow
from tierocr.evaluation.models import GroupSummary, RowResult


class BenchPlan(BaseModel):
    """What every target goes through, identical for all so that their numbers compare."""

    images: list[Path] = Field(description="Single-image requests cycle over these.")
    pdf: Path | None = None
    rows: list[ManifestRow] = Field(default_factory=list, description="Corpus documents to score.")
    concurrency: list[int] = Field(default_factory=lambda: [1])
    warm_requests: int = 20
    throughput_rounds: int = 2
    throughput_min_requests: int = 10
    cold_release: bool = True
    outputs_dir: Path | None = Field(None, description="Each target's Markdown per corpus document.")
    process_started: float | None = Field(
        None, description="Wall clock when the target's own process was spawned (classical tiers)."
    )

    def throughput_requests(self, concurrency: int) -> int:
        return max(concurrency * self.throughput_rounds, self.throughput_min_requests)

    def steps(self) -> int:
        """Progress units of one target: cold + warm + throughput requests + the PDF + corpus rows."""
        levels = sum(self.throughput_requests(c) for c in self.concurrency)
        return 1 + self.warm_requests + levels + (1 if self.pdf else 0) + len(self.rows)


class LatencyStats(BaseModel):
    """Seconds per request; p95 by nearest rank (with 20 samples: the second slowest)."""

    count: int
    median_s: float
    p95_s: float
    mean_s: float
    min_s: float
    max_s: float
    samples: list[float]

    @classmethod
    def of(cls, samples: list[float]) -> LatencyStats | None:
        if not samples:
            return None
        ordered = sorted(samples)
        n = len(ordered)
        middle = n // 2
        median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        return cls(
            count=n,
            median_s=median,
            p95_s=ordered[max(0, math.ceil(0.95 * n) - 1)],
            mean_s=sum(ordered) / n,
            min_s=ordered[0],
            max_s=ordered[-1],
            samples=list(samples),
        )


class ThroughputPoint(BaseModel):
    concurrency: int
    requests: int
    workers: int = Field(description="Pipelines (classical) or connections (endpoint) serving them.")
    seconds: float
    images_per_s: float
    tokens_per_s: float | None = None
    errors: int = 0


class DocumentSpeed(BaseModel):
    pages: int
    seconds: float
    pages_per_s: float
    error: str | None = None


class GpuMemory(BaseModel):
    """Device-wide used memory (NVML): before the target's first request and the most seen under load."""

    device: int
    total_mb: float
    before_mb: float
    peak_mb: float


class TargetResult(BaseModel):
    name: str
    spec: str
    kind: str
    model: str | None = Field(None, description="Model the endpoint served (endpoint targets).")
    cold_start_s: float | None = Field(
        None, description="Process spawn (classical) or model release (endpoint) to the first answer."
    )
    first_request_s: float | None = Field(None, description="The first request alone.")
    cold_method: str = ""
    warm: LatencyStats | None = None
    warm_tokens_per_s: float | None = None
    throughput: list[ThroughputPoint] = Field(default_factory=list)
    pdf: DocumentSpeed | None = None
    corpus: list[RowResult] = Field(default_factory=list)
    corpus_pages_per_s: float | None = None
    peak_rss_mb: float | None = None
    gpu: GpuMemory | None = None
    request_errors: list[str] = Field(default_factory=list, description="First few failed requests.")
    error: str | None = Field(None, description="The target could not be measured at all.")

    def throughput_at(self, concurrency: int) -> ThroughputPoint | None:
        return next((p for p in self.throughput if p.concurrency == concurrency), None)


class BenchReport(BaseModel):
    created: str
    command: str
    images: list[str]
    pdf: str | None = None
    corpus: str | None = None
    concurrency: list[int]
    bad_ned_threshold: float
    targets: list[TargetResult]
    rows: list[RowResult] = Field(default_factory=list, description="Corpus rows, all targets merged.")
    summary: list[GroupSummary] = Field(default_factory=list)
    machine: dict[str, Any] = Field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.targets]
