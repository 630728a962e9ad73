"""Pooling per-document scores into per-group means, system by system.

Different references use different metrics, so a group is always summarised per metric: a mean NED
over its text rows, a pooled olmOCR pass rate (tests passed / tests counted, so a document with many
tests weighs more, as in the benchmark), and a mean TEDS over its table rows.
"""

from __future__ import annotations

from collections.abc import Callable

from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.models import Aggregate, GroupSummary, RowResult


def _aggregate(rows: list[RowResult], system: str, metric: Metric, bad_threshold: float) -> Aggregate:
    values: list[float] = []
    structure: list[float] = []
    passed = counted = failed = missing = bad = 0
    for row in rows:
        result = row.results.get(system)
        if result is None:
            continue
        if result.error is not None:
            failed += 1
        if metric is Metric.OLMOCR:
            counted_here = int(result.details.get("counted", 0))
            counted += counted_here
            passed += int(result.details.get("passed", 0)) if result.error is None else 0
            continue
        if metric is Metric.NED:
            value = result.score if result.error is None and result.score is not None else 1.0
            bad += int(value > bad_threshold)
        else:
            if result.error is None and result.score is None:
                missing += 1
            value = result.score if result.error is None and result.score is not None else 0.0
            structure.append(float(result.details.get("teds_s") or 0.0) if result.error is None else 0.0)
        values.append(value)
    if metric is Metric.OLMOCR:
        return Aggregate(value=passed / counted if counted else None, rows=counted, failed=failed)
    return Aggregate(
        value=_mean(values),
        rows=len(values),
        failed=failed,
        missing=missing,
        bad=bad,
        structure=_mean(structure) if metric is Metric.TEDS else None,
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _groups(
    rows: list[RowResult], key: Callable[[RowResult], str], prefix: str
) -> dict[str, list[RowResult]]:
    grouped: dict[str, list[RowResult]] = {}
    for row in rows:
        grouped.setdefault(f"{prefix}={key(row)}", []).append(row)
    return dict(sorted(grouped.items()))


def summarize(rows: list[RowResult], systems: list[str], bad_threshold: float) -> list[GroupSummary]:
    """Overall, per content kind, per language and per source; each split by metric."""
    scored = [row for row in rows if row.error is None]
    buckets: dict[str, list[RowResult]] = {"overall": scored}
    buckets.update(_groups(scored, lambda r: r.content, "content"))
    buckets.update(_groups(scored, lambda r: r.language, "language"))
    buckets.update(_groups(scored, lambda r: r.source, "source"))
    summary: list[GroupSummary] = []
    for name, members in buckets.items():
        for metric in Metric:
            subset = [row for row in members if row.metric is metric]
            if not subset:
                continue
            summary.append(
                GroupSummary(
                    group=name,
                    metric=metric,
                    systems={s: _aggregate(subset, s, metric, bad_threshold) for s in systems},
                )
            )
    return summary
