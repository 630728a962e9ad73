"""The evaluation report's data: one row per document, one result per system, and the summaries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tierocr.evaluation.corpus import Metric


class SystemResult(BaseModel):
    """What one system produced for one document and how it scored."""

    score: float | None = Field(None, description="Primary metric; None when n/a or when the run failed.")
    details: dict[str, Any] = Field(default_factory=dict)
    seconds: float | None = None
    pages: int | None = None
    tiers: list[str] = Field(
        default_factory=list, description="Tiers that produced the pages, in page order."
    )
    error: str | None = None

    @property
    def seconds_per_page(self) -> float | None:
        if self.seconds is None or not self.pages:
            return None
        return self.seconds / self.pages


class RowResult(BaseModel):
    id: str
    source: str
    kind: str
    content: str
    language: str
    groundtruth_format: str
    metric: Metric
    pages: int
    results: dict[str, SystemResult] = Field(default_factory=dict)
    error: str | None = Field(None, description="Ground truth could not be read; no system was scored.")


class Aggregate(BaseModel):
    """One metric pooled over a group of rows for one system.

    Failed runs are charged the worst score (NED 1, every test failed, TEDS 0); a TEDS row whose output
    has no table counts as 0 in the mean and is also counted in ``missing``.
    """

    value: float | None
    rows: int
    failed: int = 0
    missing: int = 0
    bad: int = Field(0, description="NED rows above the bad-row threshold.")
    structure: float | None = Field(None, description="Mean TEDS-S beside a mean TEDS (same n/a rule).")


class GroupSummary(BaseModel):
    group: str = Field(description="'overall', 'content=<kind>', 'language=<code>' or 'source=<name>'.")
    metric: Metric
    systems: dict[str, Aggregate]


class EvalReport(BaseModel):
    corpus: str
    systems: list[str]
    created: str
    bad_ned_threshold: float
    settings: dict[str, Any] = Field(default_factory=dict)
    rows: list[RowResult] = Field(default_factory=list)
    summary: list[GroupSummary] = Field(default_factory=list)

    def overall(self, metric: Metric) -> GroupSummary | None:
        for group in self.summary:
            if group.group == "overall" and group.metric is metric:
                return group
        return None
