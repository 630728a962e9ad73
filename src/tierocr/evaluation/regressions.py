"""Rows where tierocr reads a document worse than the bare engine it wraps.

A default that reads some kind of document worse than its own engine is a regression even when the
corpus mean improves: the held-out set has more of that kind. So the report lists these rows first, worst
first, and a release is judged on them as much as on the means.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.models import EvalReport, SystemResult

#: A row is a regression when tierocr is worse than the baseline by more than this (NED, pass rate, TEDS).
MARGIN = 0.05


@dataclass(frozen=True, slots=True)
class Regression:
    id: str
    content: str
    metric: Metric
    ours: float
    theirs: float

    @property
    def loss(self) -> float:
        """How much worse tierocr is, in the metric's units (positive: worse)."""
        return self.ours - self.theirs if self.metric is Metric.NED else self.theirs - self.ours


def _value(metric: Metric, result: SystemResult | None) -> float | None:
    """The row's score with failures charged the worst value; None when the metric does not apply."""
    if result is None:
        return None
    if result.error is not None:
        return 1.0 if metric is Metric.NED else 0.0
    if metric is Metric.OLMOCR and not result.details.get("counted"):
        return None
    if result.score is None:
        return 0.0 if metric is Metric.TEDS else None
    return float(result.score)


def find_regressions(
    report: EvalReport, system: str = "tierocr", baseline: str = "rapidocr", margin: float = MARGIN
) -> list[Regression]:
    """Rows where ``system`` is worse than ``baseline`` by more than ``margin``, worst first.

    A table row the baseline cannot score (bare engines write no tables) is not a regression.
    """
    out: list[Regression] = []
    for row in report.rows:
        if row.error is not None:
            continue
        ours = _value(row.metric, row.results.get(system))
        result = row.results.get(baseline)
        if row.metric is Metric.TEDS and (result is None or result.score is None):
            continue
        theirs = _value(row.metric, result)
        if ours is None or theirs is None:
            continue
        found = Regression(row.id, row.content, row.metric, ours, theirs)
        if found.loss > margin:
            out.append(found)
    return sorted(out, key=lambda r: r.loss, reverse=True)


def regression_lines(report: EvalReport, system: str = "tierocr", baseline: str = "rapidocr") -> list[str]:
    """The Markdown section listing the regressions (empty when the baseline was not run)."""
    if system not in report.systems or baseline not in report.systems:
        return []
    found = find_regressions(report, system, baseline)
    lines = [f"## Rows where {system} is worse than bare {baseline} (by more than {MARGIN})", ""]
    if not found:
        return [*lines, "None.", ""]
    lines += [
        f"| id | content | metric | {system} | {baseline} | worse by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.id} | {r.content} | {r.metric.value} | {r.ours:.3f} | {r.theirs:.3f} | {r.loss:.3f} |"
        for r in found
    ]
    return [*lines, ""]
