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

from tierocr.document import Document, Page
from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.models import EvalReport, RowResult
from tierocr.evaluation.systems import SystemFn

#: TEDS below this counts as a table read wrongly.
TEDS_BAR = 0.5


class GatePage(BaseModel):
    page: int
    accepted: bool
    signals: dict[str, float] = Field(default_factory=dict)
    probability: float | None = None
    scope: str | None = Field(None, description="page or regions, when rejected.")
    regions: int = Field(0, description="Regions the gate asks to re-read (scope regions).")
    escalated_area: float = Field(0.0, description="Share of the page's pixels sent to the VLM.")
    measurements: dict[str, float] = Field(
        default_factory=dict, description="Every raw signal value: what `gate-fit` refits from."
    )
    seconds_gate: float | None = None
    seconds_classical: float | None = None


class GateRow(BaseModel):
    id: str
    source: str = ""
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
    whole_pages: int = Field(0, description="Pages sent to the VLM whole.")
    regions: int = Field(0, description="Regions sent to the VLM from pages escalated by region.")
    pixel_share: float = Field(0.0, description="Share of all pages' pixels sent to the VLM.")


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
    rejected = [p for p in pages if not p.accepted]
    return GateGroup(
        group=name,
        documents=len(rows),
        bad=len(bad),
        flagged=len(flagged),
        recall=hit / len(bad) if bad else None,
        precision=hit / len(flagged) if flagged else None,
        pages=len(pages),
        escalation_rate=len(rejected) / len(pages) if pages else 0.0,
        whole_pages=sum(1 for p in rejected if p.scope != "regions"),
        regions=sum(p.regions for p in rejected if p.scope == "regions"),
        pixel_share=sum(p.escalated_area for p in pages) / len(pages) if pages else 0.0,
    )


def escalated_area(page: Page) -> float:
    """Share of the page's pixels the gate's verdict would send to the VLM (regions' union, or 1)."""
    verdict = page.quality
    if verdict is None or verdict.accepted:
        return 0.0
    boxes = [page.blocks[i].bbox for i in verdict.regions if 0 <= i < len(page.blocks)]
    if verdict.scope != "regions" or not boxes or any(b is None for b in boxes):
        return 1.0
    area = page.width * page.height
    return min(1.0, sum(b.area for b in boxes if b is not None) / area) if area > 0 else 1.0


def gate_page_record(page: Page) -> GatePage:
    verdict = page.quality
    if verdict is None:
        return GatePage(page=page.number, accepted=False, signals={"no_verdict": 1.0}, escalated_area=1.0)
    return GatePage(
        page=page.number,
        accepted=verdict.accepted,
        signals=verdict.signals,
        probability=verdict.probability,
        scope=verdict.scope if not verdict.accepted else None,
        regions=len(verdict.regions) if not verdict.accepted else 0,
        escalated_area=round(escalated_area(page), 4),
        measurements=verdict.measurements,
        seconds_gate=page.timings.get("gate"),
        seconds_classical=page.timings.get("total"),
    )


def calibrate(report: EvalReport, documents: dict[str, Document], system: str = "tierocr") -> GateCalibration:
    """Set each document's gate verdicts (from ``documents``, keyed by row id) beside its score."""
    rows: list[GateRow] = []
    for row in report.rows:
        result = row.results.get(system)
        document = documents.get(row.id)
        if result is None or document is None:
            continue
        pages = [gate_page_record(p) for p in document.pages]
        rows.append(
            GateRow(
                id=row.id,
                source=row.source,
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
        "| group | documents | bad | flagged | recall | precision | pages | escalation rate | whole pages "
        "| regions | pixel share |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in calibration.groups:
        lines.append(
            f"| {g.group} | {g.documents} | {g.bad} | {g.flagged} | {_fmt(g.recall)} | {_fmt(g.precision)} "
            f"| {g.pages} | {g.escalation_rate:.2f} | {g.whole_pages} | {g.regions} | {g.pixel_share:.2f} |"
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
    columns = (
        "group",
        "docs",
        "bad",
        "flagged",
        "recall",
        "precision",
        "pages",
        "escalation",
        "whole",
        "regions",
    )
    for column in (*columns, "pixels"):
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
            str(g.whole_pages),
            str(g.regions),
            f"{g.pixel_share:.2f}",
        )
    console.print(table)
