"""`tierocr compare`'s report: the dimension table, its chart, the per-document table and the diffs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable

from tierocr.benchmark.charts import accuracy_value, grouped_bars
from tierocr.benchmark.diff import DiffDocument, disagreement, write_diffs
from tierocr.benchmark.dimensions import Line, dimension_lines
from tierocr.benchmark.models import BenchReport
from tierocr.benchmark.report import md_table
from tierocr.config import Settings
from tierocr.evaluation.corpus import ManifestRow, Metric
from tierocr.evaluation.models import SystemResult
from tierocr.evaluation.report import format_score

CONVENTIONS = """\
Conventions: every document of the corpus goes through both targets; text, tables and handwriting use
`tierocr eval`'s metrics on the rows of that kind (X text = documents in language X whose content is text,
scanned or mixed; NED lower is better, olmOCR pass rate and TEDS higher; a failed run counts as the worst
score). Digits and identifiers: tokens with two or more digits (dates, amounts, ID numbers) of the
reference found verbatim in the output (recall), and the output's found in the reference (precision),
formulas left out. LaTeX: each reference formula against the output's most similar one (1 - NED), 0 when
the output has no LaTeX. Speed: see `tierocr bench` (cold start from process spawn or model release; warm
latency over single images of the corpus; images/s with N in flight; pages/s over the corpus run).
"""

_MEASURE_BY_METRIC = MappingProxyType(
    {Metric.NED: "mean NED", Metric.OLMOCR: "olmOCR pass rate", Metric.TEDS: "mean TEDS"}
)


def _worth(metric: Metric, result: SystemResult | None) -> float:
    """A row's score on one scale, higher is better; a failed or n/a run is worth nothing."""
    if result is None or result.error is not None or result.score is None:
        return 0.0
    return 1.0 - result.score if metric is Metric.NED else result.score


def diff_documents(
    report: BenchReport, manifest: list[ManifestRow], outputs_dir: Path, count: int
) -> list[DiffDocument]:
    """The ``count`` documents where the two differ most: by text (NED between the outputs) or by score
    (a table one target found and the other read as lines has the same text but not the same worth)."""
    a, b = report.names[:2]
    by_id = {r.id: r for r in report.rows}
    found = []
    for row in manifest:
        result = by_id.get(row.id)
        if result is None:
            continue
        texts = []
        for name in (a, b):
            path = outputs_dir / name / f"{row.id}.md"
            texts.append(path.read_text(encoding="utf-8") if path.is_file() else "")
        score = disagreement(*texts)
        a_worth, b_worth = (_worth(row.metric, result.results.get(n)) for n in (a, b))
        gap = abs(a_worth - b_worth)
        if max(score, gap) <= 0:
            continue
        facts = [("content", row.content), ("language", row.language), ("metric", str(row.metric))]
        for name in (a, b):
            facts.append((f"{name} score", format_score(row.metric, result.results.get(name))))
        found.append(DiffDocument(row.id, row.file, score, a, b, texts[0], texts[1], tuple(facts), gap))
    found.sort(key=lambda d: -max(d.disagreement, d.score_gap))
    return found[:count]


def compare_chart(lines: list[Line], names: list[str], path: Path) -> Path:
    """Accuracy lines as grouped bars, every measure turned to "higher is better" (1 - NED)."""
    accuracy = [
        ln for ln in lines if ln.dimension != "Speed" and any(v is not None for v in ln.values.values())
    ]
    labels = [f"{line.dimension}: {line.measure.split(' (')[0]}" for line in accuracy]
    series: dict[str, list[float | None]] = {}
    for name in names:
        series[name] = [
            accuracy_value(Metric.NED, line.values.get(name))
            if line.measure == _MEASURE_BY_METRIC[Metric.NED]
            else line.values.get(name)
            for line in accuracy
        ]
    return grouped_bars(
        [label.replace("mean NED", "1 - NED") for label in labels],
        series,
        path,
        title=f"{' vs '.join(names)}: accuracy per dimension",
        ylabel="score, higher is better (edit distances as 1 - NED)",
        horizontal=True,
    )


def dimension_table(lines: list[Line], names: list[str]) -> list[str]:
    return md_table(
        ["dimension", "measure", "n", *names, "better"],
        [
            [ln.dimension, ln.measure, ln.count, *(ln.cell(n) for n in names), ln.better(names)]
            for ln in lines
        ],
    )


def document_table(report: BenchReport, manifest: list[ManifestRow]) -> list[str]:
    names = report.names
    by_id = {r.id: r for r in report.rows}
    rows = []
    for row in manifest:
        result = by_id.get(row.id)
        if result is None:
            continue
        cells = [row.id, row.content, row.language, str(row.metric)]
        for name in names:
            system = result.results.get(name)
            per_page = system.seconds_per_page if system is not None else None
            cells += [format_score(row.metric, system), f"{per_page:.2f}" if per_page is not None else ""]
        rows.append(cells)
    header = ["document", "content", "language", "metric"]
    for name in names:
        header += [name, "s/page"]
    return md_table(header, rows)


def render_compare(
    report: BenchReport,
    manifest: list[ManifestRow],
    lines: list[Line],
    diffs: list[tuple[DiffDocument, Path]],
    *,
    chart: str | None,
    diff_links: bool,
) -> str:
    names = report.names
    out = [
        f"# tierocr compare: {' vs '.join(names)}",
        "",
        f"`{report.command}`, {report.created}. Corpus `{report.corpus}`, {len(report.rows)} documents; "
        f"{len(report.images)} corpus images for the latency and throughput requests. Machine: "
        f"{report.machine.get('cpus')} CPUs, {report.machine.get('platform')}.",
        "",
        CONVENTIONS,
        "## Dimension by dimension",
        "",
        *dimension_table(lines, names),
    ]
    if chart:
        out += ["", f"![accuracy per dimension]({chart})"]
    if diffs:
        out += ["", "## Where they disagree most", ""]
        header = [
            "document",
            "content",
            "outputs differ (NED)",
            "score gap",
            *(f"{n} score" for n in names),
        ]
        table = []
        for doc, path in diffs:
            facts = dict(doc.facts)
            label = f"[{doc.row_id}](diffs/{path.name})" if diff_links else doc.row_id
            table.append(
                [
                    label,
                    facts.get("content", ""),
                    f"{doc.disagreement:.3f}",
                    f"{doc.score_gap:.3f}",
                    *(facts.get(f"{n} score", "") for n in names),
                ]
            )
        out += md_table(header, table)
    out += ["", "## Documents", "", *document_table(report, manifest)]
    errors = [
        [t.name, t.error or "; ".join(t.request_errors)]
        for t in report.targets
        if t.error or t.request_errors
    ]
    if errors:
        out += ["", "## Errors", "", *md_table(["target", "error"], errors)]
    return "\n".join(out) + "\n"


def write_compare(
    report: BenchReport,
    manifest: list[ManifestRow],
    report_dir: Path,
    settings: Settings,
    console: Console,
    *,
    summary: Path | None = None,
) -> tuple[list[Line], list[Path]]:
    """report.md, report.json, compare.png and diffs/ in ``report_dir``; with ``summary``, the same
    report without the diff links (for a docs page) and its chart beside it under the same stem."""
    outputs = report_dir / "outputs"
    lines = dimension_lines(report, manifest, outputs, report.concurrency[0])
    docs = diff_documents(report, manifest, outputs, settings.bench.diff_documents)
    pages = write_diffs(docs, report_dir / "diffs", settings.input, settings.bench.diff_image_max_px)
    diffs = list(zip(docs, pages, strict=True))
    chart: Path | None = None
    try:
        chart = compare_chart(lines, report.names, report_dir / "compare.png")
    except ImportError:
        console.print("[yellow]no chart: matplotlib is missing (pip install 'tierocr\\[eval]')[/yellow]")
    written = [report_dir / "report.md", report_dir / "report.json", *([chart] if chart else [])]
    (report_dir / "report.md").write_text(
        render_compare(report, manifest, lines, diffs, chart=chart.name if chart else None, diff_links=True),
        encoding="utf-8",
    )
    data: dict[str, Any] = {
        "bench": report.model_dump(mode="json"),
        "dimensions": [asdict(line) for line in lines],
        "diffs": [
            {
                "id": d.row_id,
                "disagreement": d.disagreement,
                "score_gap": d.score_gap,
                "page": f"diffs/{p.name}",
            }
            for d, p in diffs
        ],
    }
    import json

    (report_dir / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    if summary is not None:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary_chart = None
        if chart is not None:
            summary_chart = summary.with_suffix(".png")
            summary_chart.write_bytes(chart.read_bytes())
            written.append(summary_chart)
        text = render_compare(
            report,
            manifest,
            lines,
            diffs,
            chart=summary_chart.name if summary_chart else None,
            diff_links=False,
        )
        summary.write_text(text, encoding="utf-8")
        written.append(summary)
    return lines, [*written, *pages]


def print_dimensions(lines: list[Line], names: list[str], console: Console) -> None:
    table = RichTable(title=f"tierocr compare: {' vs '.join(names)}")
    for column in ["dimension", "measure", "n", *names, "better"]:
        table.add_column(column, justify="right" if column in names else "left")
    for ln in lines:
        table.add_row(ln.dimension, ln.measure, ln.count, *(ln.cell(n) for n in names), ln.better(names))
    console.print(table)
