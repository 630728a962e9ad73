"""Rows where tierocr is worse than the bare engine are found, worst first, and lead the report."""

from __future__ import annotations

from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.models import EvalReport, RowResult, SystemResult
from tierocr.evaluation.regressions import find_regressions
from tierocr.evaluation.report import render_markdown_report


def _row(id_: str, metric: Metric, ours: float | None, theirs: float | None, **details: int) -> RowResult:
    row = RowResult(
        id=id_, source="s", kind="image", content="scanned", language="en",
        groundtruth_format="txt", metric=metric, pages=1,
    )  # fmt: skip
    row.results["tierocr"] = SystemResult(score=ours, details=dict(details))
    row.results["rapidocr"] = SystemResult(score=theirs, details=dict(details))
    return row


def _report(rows: list[RowResult]) -> EvalReport:
    return EvalReport(
        corpus="c", systems=["tierocr", "rapidocr"], created="now", bad_ned_threshold=0.15, rows=rows
    )


def test_regressions_are_rows_worse_by_more_than_the_margin_worst_first() -> None:
    report = _report(
        [
            _row("receipt", Metric.NED, 0.31, 0.05),  # much worse
            _row("notes", Metric.NED, 0.12, 0.05),  # worse by 0.07
            _row("close", Metric.NED, 0.09, 0.05),  # within the margin
            _row("better", Metric.NED, 0.02, 0.40),
            _row("tests", Metric.OLMOCR, 0.5, 1.0, counted=4),  # pass rate halved
            _row("table", Metric.TEDS, 0.9, None),  # the engine writes no tables: not comparable
        ]
    )
    found = find_regressions(report)
    assert [r.id for r in found] == ["tests", "receipt", "notes"]
    assert round(found[1].loss, 2) == 0.26


def test_the_report_lists_regressions_before_the_means() -> None:
    text = render_markdown_report(_report([_row("receipt", Metric.NED, 0.31, 0.05)]))
    assert text.index("worse than bare rapidocr") < text.index("## Overall")
    assert "| receipt | scanned | ned | 0.310 | 0.050 | 0.260 |" in text
    none = render_markdown_report(_report([_row("fine", Metric.NED, 0.05, 0.05)]))
    assert "None." in none
