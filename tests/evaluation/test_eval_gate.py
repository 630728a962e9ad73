"""Gate calibration: verdicts set beside real errors give recall, precision and escalation rate."""

from __future__ import annotations

from tierocr.document import Document, Page, QualityVerdict
from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.gate import calibrate
from tierocr.evaluation.models import EvalReport, RowResult, SystemResult


def _row(rid: str, metric: Metric, score: float | None, content: str = "text") -> RowResult:
    return RowResult(
        id=rid,
        source="s",
        kind="image",
        content=content,
        language="en",
        groundtruth_format="txt",
        metric=metric,
        pages=1,
        results={"tierocr": SystemResult(score=score)},
    )


def _doc(*accepted: bool) -> Document:
    pages = [
        Page(
            number=i + 1,
            width=10,
            height=10,
            dpi=72,
            quality=QualityVerdict(accepted=a, signals={} if a else {"x": 1}),
        )
        for i, a in enumerate(accepted)
    ]
    return Document(source="d", mime_type="image/png", page_count=len(pages), pages=pages)


def test_recall_precision_and_escalation_rate() -> None:
    report = EvalReport(
        corpus="c",
        systems=["tierocr"],
        created="now",
        bad_ned_threshold=0.15,
        rows=[
            _row("bad-flagged", Metric.NED, 0.4),
            _row("bad-missed", Metric.OLMOCR, 0.8, content="table"),  # one failed test counts as bad
            _row("good-flagged", Metric.NED, 0.05),
            _row("good-passed", Metric.NED, 0.01),
        ],
    )
    documents = {
        "bad-flagged": _doc(False, True),
        "bad-missed": _doc(True),
        "good-flagged": _doc(False),
        "good-passed": _doc(True),
    }
    result = calibrate(report, documents)
    overall = result.groups[0]
    assert (overall.documents, overall.bad, overall.flagged) == (4, 2, 2)
    assert overall.recall == 0.5 and overall.precision == 0.5
    assert overall.escalation_rate == 2 / 5
    table = next(g for g in result.groups if g.group == "content=table")
    assert table.recall == 0.0 and table.precision is None
