"""Writing the evaluation as ``report.md`` (for people), ``report.json`` (for tools) and a rich table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.models import Aggregate, EvalReport, GroupSummary, RowResult, SystemResult
from tierocr.evaluation.regressions import find_regressions, regression_lines

_METRIC_LABEL = {
    Metric.NED: "mean NED (md/txt rows, lower is better)",
    Metric.OLMOCR: "olmOCR pass rate (json rows, pooled tests)",
    Metric.TEDS: "mean TEDS (html rows, no table = 0)",
}

_CONVENTIONS = """\
Conventions: NED = Levenshtein(gt, out) / max(len(gt), len(out)) after stripping Markdown/HTML markup on
both sides (table cell text kept), NFC, folding curly quotes, dashes, full-width ASCII, long s and MUFI
private-use letters, dropping other private-use characters and collapsing whitespace. olmOCR tests follow
olmOCR-bench (math tests skipped, not counted). TEDS over table/tr/td trees with spans and cell text; the best
matching output table is scored, n/a when the output has no table. A failed run counts as the worst score.
Time per page is the wall time of the system's call (first document includes model loading).
"""


def format_score(metric: Metric, result: SystemResult | None) -> str:
    if result is None:
        return ""
    if result.error is not None:
        return "ERROR"
    if metric is Metric.OLMOCR:
        counted = result.details.get("counted", 0)
        if not counted:
            return "n/a"
        return f"{result.score:.3f} ({result.details.get('passed', 0)}/{counted})"
    if result.score is None:
        return "n/a"
    if metric is Metric.TEDS and result.details.get("teds_s") is not None:
        return f"{result.score:.3f} (S {result.details['teds_s']:.3f})"
    return f"{result.score:.3f}"


def format_aggregate(metric: Metric, aggregate: Aggregate | None) -> str:
    if aggregate is None or aggregate.value is None:
        return "n/a"
    text = f"{aggregate.value:.3f}"
    notes = []
    if metric is Metric.OLMOCR:
        notes.append(f"{aggregate.rows} tests")
    if aggregate.structure is not None:
        notes.append(f"S {aggregate.structure:.3f}")
    if metric is Metric.NED and aggregate.bad:
        notes.append(f"{aggregate.bad} bad")
    if aggregate.missing:
        notes.append(f"{aggregate.missing} n/a")
    if aggregate.failed:
        notes.append(f"{aggregate.failed} failed")
    return f"{text} ({', '.join(notes)})" if notes else text


def _seconds(result: SystemResult | None) -> str:
    per_page = result.seconds_per_page if result is not None else None
    return f"{per_page:.2f}" if per_page is not None else ""


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_md_row(header), _md_row(["---"] * len(header)), *(_md_row(r) for r in rows)]


def _tier_systems(report: EvalReport) -> list[str]:
    return [
        s for s in report.systems if any(row.results.get(s) and row.results[s].tiers for row in report.rows)
    ]


def _group_lines(report: EvalReport, prefix: str, title: str) -> list[str]:
    groups = [g for g in report.summary if g.group.startswith(prefix + "=")]
    if not groups:
        return []
    header = [title, "metric", "rows", *report.systems]
    rows = []
    for group in groups:
        rows.append(
            [
                group.group.split("=", 1)[1],
                str(group.metric),
                str(_row_count(report, group)),
                *(format_aggregate(group.metric, group.systems.get(s)) for s in report.systems),
            ]
        )
    return ["", f"## Per {title}", "", *_md_table(header, rows)]


def _row_count(report: EvalReport, group: GroupSummary) -> int:
    key, _, value = group.group.partition("=")
    return sum(
        1
        for row in report.rows
        if row.error is None
        and row.metric is group.metric
        and (key == "overall" or getattr(row, key) == value)
    )


def _document_row(report: EvalReport, row: RowResult, tier_systems: list[str]) -> list[str]:
    cells = [row.id, row.source, row.kind, row.content, row.language, str(row.metric)]
    for system in report.systems:
        result = row.results.get(system)
        cells.append("ERROR (reference)" if row.error else format_score(row.metric, result))
        cells.append(_seconds(result))
        if system in tier_systems:
            cells.append("+".join(result.tiers) if result is not None else "")
    return cells


def render_markdown_report(report: EvalReport) -> str:
    lines = [
        "# tierocr evaluation",
        "",
        f"Corpus `{report.corpus}`, {len(report.rows)} documents, {report.created}. "
        f"Systems: {', '.join(report.systems)}. Bad NED threshold: {report.bad_ned_threshold}.",
        "",
        _CONVENTIONS,
        *regression_lines(report),
        "## Overall",
        "",
    ]
    overall = [g for g in report.summary if g.group == "overall"]
    lines += _md_table(
        ["metric", "rows", *report.systems],
        [
            [
                _METRIC_LABEL[g.metric],
                str(_row_count(report, g)),
                *(format_aggregate(g.metric, g.systems.get(s)) for s in report.systems),
            ]
            for g in overall
        ],
    )
    lines += _group_lines(report, "content", "content kind")
    lines += _group_lines(report, "language", "language")
    lines += _group_lines(report, "source", "source")
    tier_systems = _tier_systems(report)
    header = ["id", "source", "kind", "content", "language", "metric"]
    for system in report.systems:
        header += [system, "s/page"] + (["tiers"] if system in tier_systems else [])
    lines += [
        "",
        "## Documents",
        "",
        *_md_table(header, [_document_row(report, r, tier_systems) for r in report.rows]),
    ]
    errors = [
        (row.id, system, result.error)
        for row in report.rows
        for system, result in row.results.items()
        if result.error is not None
    ] + [(row.id, "-", row.error) for row in report.rows if row.error is not None]
    if errors:
        lines += ["", "## Errors", "", *_md_table(["id", "system", "error"], [list(e) for e in errors])]
    return "\n".join(lines) + "\n"


def write_report(report: EvalReport, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = report_dir / "report.md", report_dir / "report.json"
    md_path.write_text(render_markdown_report(report), encoding="utf-8")
    json_path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return md_path, json_path


def print_summary(report: EvalReport, console: Console) -> None:
    """Overall and per-content-kind means, systems side by side."""
    table = RichTable(title=f"tierocr eval: {len(report.rows)} documents", show_lines=False)
    table.add_column("group")
    table.add_column("metric")
    table.add_column("rows", justify="right")
    for system in report.systems:
        table.add_column(system, justify="right")
    for group in report.summary:
        if group.group != "overall" and not group.group.startswith("content="):
            continue
        label = "overall" if group.group == "overall" else group.group.split("=", 1)[1]
        table.add_row(
            label,
            str(group.metric),
            str(_row_count(report, group)),
            *(format_aggregate(group.metric, group.systems.get(s)) for s in report.systems),
        )
    console.print(table)
    if "rapidocr" in report.systems and "tierocr" in report.systems:
        found = find_regressions(report)
        console.print(f"rows where tierocr is worse than bare rapidocr by more than 0.05: {len(found)}")
        for r in found:
            console.print(f"  {r.id} ({r.content}, {r.metric.value}): {r.ours:.3f} vs {r.theirs:.3f}")
