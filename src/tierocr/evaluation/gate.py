"""Gate calibration: does the quality gate send exactly the pages the classical tiers got wrong?

The pipeline records the gate's verdict on every page; here each document's verdicts are set beside its
real score. A document is *bad* when its score misses its metric's bar (NED above
``eval.bad_ned_threshold``, any failed olmOCR test, TEDS below 0.5) and *flagged* when the gate rejects
any of its pages. Recall is the share of bad documents flagged, precision the share of flagged documents
that were bad, and the escalation rate the share of pages rejected (what a VLM would be sent).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from tierocr.document import Document
from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.models import EvalReport, RowResult
from tierocr.evaluation.systems import SystemFn

#: TEDS below this counts as a table read wrongly.
TEDS_BAR = 0.5


class GatePage(BaseModel):
    page: int
    accepted: bool
    signals: dict[str, float] = Field(default_factory=dict)


class GateRow(BaseModel):
    id: str
    content: str
    metric: Metric
    score: float | None
    bad: bool
    flagged: bool
    pages: list[GatePage]


class GateGroup(BaseModel):
    group: str
    documents: int
    bad: int
    flagged: int
    recall: float | None
    precision: float | None
    pages: int
    escalation_rate: float


class GateCalibration(BaseModel):
    system: str
    bad_ned_threshold: float
    rows: list[GateRow]
    groups: list[GateGroup]


def _is_bad(row: RowResult, score: float | None, ned_bar: float) -> bool:
    if score is None:
        return True
    if row.metric is Metric.NED:
        return score > ned_bar
    if row.metric is Metric.OLMOCR:
        return score < 1.0  # any failed test
    return score < TEDS_BAR


def _group(name: str, rows: list[GateRow]) -> GateGroup:
    bad = [r for r in rows if r.bad]
    flagged = [r for r in rows if r.flagged]
    hit = sum(1 for r in bad if r.flagged)
    pages = [p for r in rows for p in r.pages]
    return GateGroup(
        group=name,
        documents=len(rows),
        bad=len(bad),
        flagged=len(flagged),
        recall=hit / len(bad) if bad else None,
        precision=hit / len(flagged) if flagged else None,
        pages=len(pages),
        escalation_rate=sum(not p.accepted for p in pages) / len(pages) if pages else 0.0,
    )


def calibrate(report: EvalReport, documents: dict[str, Document], system: str = "tierocr") -> GateCalibration:
    """Set each document's gate verdicts (from ``documents``, keyed by row id) beside its score."""
    rows: list[GateRow] = []
    for row in report.rows:
        result = row.results.get(system)
        document = documents.get(row.id)
        if result is None or document is None:
            continue
        pages = [
            GatePage(page=p.number, accepted=p.quality.accepted, signals=p.quality.signals)
            if p.quality is not None
            else GatePage(page=p.number, accepted=False, signals={"no_verdict": 1.0})
            for p in document.pages
        ]
        rows.append(
            GateRow(
                id=row.id,
                content=row.content,
                metric=row.metric,
                score=result.score,
                bad=_is_bad(row, result.score, report.bad_ned_threshold),
                flagged=any(not p.accepted for p in pages),
                pages=pages,
            )
        )
    groups = [_group("overall", rows)]
    for content in sorted({r.content for r in rows}):
        groups.append(_group(f"content={content}", [r for r in rows if r.content == content]))
    threshold = report.bad_ned_threshold
    return GateCalibration(system=system, bad_ned_threshold=threshold, rows=rows, groups=groups)


def recording(system: SystemFn, by_path: dict[Path, Document]) -> SystemFn:
    """Wrap a system so that the Documents it returns are kept (by input path) for the calibration."""

    def run(path: Path, pages: str | None = None) -> tuple[str, Document | None]:
        markdown, document = system(path, pages)
        if document is not None:
            by_path[path] = document
        return markdown, document

    run.name = getattr(system, "name", "tierocr")  # type: ignore[attr-defined]
    return run


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def write_gate_report(calibration: GateCalibration, report_dir: Path) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "gate.json").write_text(calibration.model_dump_json(indent=2), encoding="utf-8")
    lines = [
        "# Quality gate calibration",
        "",
        f"System `{calibration.system}`. Bad: NED > {calibration.bad_ned_threshold}, any failed olmOCR test,"
        f" or TEDS < {TEDS_BAR}. Flagged: the gate rejects a page.",
        "",
        "| group | documents | bad | flagged | recall | precision | pages | escalation rate |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in calibration.groups:
        lines.append(
            f"| {g.group} | {g.documents} | {g.bad} | {g.flagged} | {_fmt(g.recall)} | {_fmt(g.precision)} "
            f"| {g.pages} | {g.escalation_rate:.2f} |"
        )
    lines += ["", "## Documents", "", "| id | metric | score | bad | flagged | signals |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for r in calibration.rows:
        fired = sorted({name for p in r.pages for name in p.signals})
        lines.append(
            f"| {r.id} | {r.metric.value} | {_fmt(r.score)} | {'yes' if r.bad else ''} | "
            f"{'yes' if r.flagged else ''} | {', '.join(fired)} |"
        )
    path = report_dir / "gate.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def print_gate(calibration: GateCalibration, console: Console) -> None:
    table = Table(title="quality gate: escalation vs real errors")
    for column in ("group", "docs", "bad", "flagged", "recall", "precision", "pages", "escalation"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for g in calibration.groups:
        table.add_row(
            g.group,
            str(g.documents),
            str(g.bad),
            str(g.flagged),
            _fmt(g.recall),
            _fmt(g.precision),
            str(g.pages),
            f"{g.escalation_rate:.2f}",
        )
    console.print(table)
