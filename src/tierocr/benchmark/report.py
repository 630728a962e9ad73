"""`tierocr bench`'s report: ``report.md`` for people, ``report.json`` for tools, a table on the console."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from rich.console import Console
from rich.table import Table as RichTable

from tierocr.benchmark.models import BenchReport, TargetResult
from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.report import format_aggregate

CONVENTIONS = """\
Conventions: a request is one image read whole (classical tiers: the same call `tierocr eval` makes;
endpoints: the escalation's client with the target's profile, page task). Cold start: for a classical tier
the time from spawning its own process to the first answer (interpreter, imports, model loading); for an
endpoint the first request after the server was asked to give its model up (vlm-serve unload, vLLM sleep,
Ollama unload; wake-up included), or the first request of the run where it cannot. Warm latency: median
and p95 (nearest rank) of single requests one after another. Throughput: N requests with c in flight;
classical tiers serve them with min(c, server.workers) pipelines, as `tierocr serve` does. Tokens/s: the
completion tokens the endpoint reports over wall time. Peak RSS: the classical target's own process
(endpoints: the server is not ours to measure). GPU: device-wide used memory from NVML, before and the most
seen while requests completed. Accuracy: `tierocr eval`'s scorers; NED lower is better, olmOCR pass rate
and TEDS higher. Failed requests are counted and left out of the latencies.
"""


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return [line(header), line(["---"] * len(header)), *(line(r) for r in rows)]


def latency_rows(report: BenchReport) -> list[list[str]]:
    rows = []
    for t in report.targets:
        gpu = f"{t.gpu.before_mb:.0f} -> {t.gpu.peak_mb:.0f}" if t.gpu is not None else "n/a"
        rows.append(
            [
                t.name,
                t.kind,
                t.model or "",
                fmt(t.cold_start_s),
                fmt(t.first_request_s, 3),
                fmt(t.warm.median_s if t.warm else None, 3),
                fmt(t.warm.p95_s if t.warm else None, 3),
                str(t.warm.count if t.warm else 0),
                fmt(t.warm_tokens_per_s, 1),
                fmt(t.peak_rss_mb, 0),
                gpu,
            ]
        )
    return rows


LATENCY_HEADER = [
    "target",
    "kind",
    "model",
    "cold start (s)",
    "first request (s)",
    "warm median (s)",
    "warm p95 (s)",
    "n",
    "tokens/s (1 stream)",
    "peak RSS (MB)",
    "GPU used before -> peak (MB)",
]


def _throughput_cell(result: TargetResult, level: int) -> str:
    point = result.throughput_at(level)
    if point is None:
        return "n/a"
    text = f"{point.images_per_s:.2f}"
    if point.tokens_per_s is not None:
        text += f" ({point.tokens_per_s:.0f} tok/s)"
    if point.errors:
        text += f", {point.errors}/{point.requests} failed"
    return text


def _accuracy_lines(report: BenchReport) -> list[str]:
    if not report.summary:
        return []
    lines = ["", "## Accuracy on the corpus", ""]
    groups = [g for g in report.summary if g.group == "overall" or g.group.startswith("content=")]
    lines += md_table(
        ["group", "metric", *report.names],
        [
            [
                g.group.split("=", 1)[-1],
                str(g.metric),
                *(format_aggregate(g.metric, g.systems.get(n)) for n in report.names),
            ]
            for g in groups
        ],
    )
    speed = [fmt(t.corpus_pages_per_s) for t in report.targets]
    lines += ["", *md_table(["corpus", *report.names], [["pages/s (warm, one at a time)", *speed]])]
    return lines


def render_markdown(report: BenchReport, charts: list[Path]) -> str:
    images = f"{len(report.images)} images" + (f" (e.g. `{report.images[0]}`)" if report.images else "")
    lines = [
        "# tierocr bench",
        "",
        f"`{report.command}`, {report.created}. Machine: {report.machine.get('cpus')} CPUs, "
        f"{report.machine.get('platform')}. Inputs: {images}; PDF: `{report.pdf or 'none'}`; "
        f"corpus: `{report.corpus or 'none'}` ({len(report.rows)} documents).",
        "",
        CONVENTIONS,
        "## Latency and memory",
        "",
        *md_table(LATENCY_HEADER, latency_rows(report)),
        "",
        *(f"- {t.name}: cold start = {t.cold_method}" for t in report.targets if t.cold_method),
        "",
        "## Throughput (images/s)",
        "",
        *md_table(
            ["target", *(f"{c} concurrent" for c in report.concurrency)],
            [[t.name, *(_throughput_cell(t, c) for c in report.concurrency)] for t in report.targets],
        ),
    ]
    if report.pdf:
        lines += ["", "## Document", ""]
        lines += md_table(
            ["target", "pages", "seconds", "pages/s", "error"],
            [
                [t.name, str(t.pdf.pages), fmt(t.pdf.seconds), fmt(t.pdf.pages_per_s), t.pdf.error or ""]
                if t.pdf
                else [t.name, "", "", "n/a", ""]
                for t in report.targets
            ],
        )
    lines += _accuracy_lines(report)
    if charts:
        lines += ["", "## Charts", "", *(f"![{p.stem}]({p.name})" for p in charts)]
    errors = [
        [t.name, t.error or "; ".join(t.request_errors)]
        for t in report.targets
        if t.error or t.request_errors
    ]
    if errors:
        lines += ["", "## Errors", "", *md_table(["target", "error"], errors)]
    return "\n".join(lines) + "\n"


def write_json(report: BenchReport, report_dir: Path) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "report.json"
    path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return path


def write_markdown(text: str, report_dir: Path) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "report.md"
    path.write_text(text, encoding="utf-8")
    return path


def print_summary(report: BenchReport, console: Console) -> None:
    table = RichTable(title="tierocr bench")
    for column in ["target", "cold (s)", "warm median (s)", "p95 (s)"]:
        table.add_column(column, justify="left" if column == "target" else "right")
    for level in report.concurrency:
        table.add_column(f"img/s @{level}", justify="right")
    overall = [g for g in report.summary if g.group == "overall"]
    for group in overall:
        table.add_column(_SHORT[group.metric], justify="right")
    for t in report.targets:
        table.add_row(
            t.name,
            fmt(t.cold_start_s),
            fmt(t.warm.median_s if t.warm else None, 3),
            fmt(t.warm.p95_s if t.warm else None, 3),
            *(fmt(p.images_per_s) if (p := t.throughput_at(c)) else "n/a" for c in report.concurrency),
            *(fmt(g.systems[t.name].value, 3) if t.name in g.systems else "n/a" for g in overall),
        )
    console.print(table)
    for t in report.targets:
        if t.error:
            console.print(f"[red]{t.name}: {t.error}[/red]")


_SHORT = MappingProxyType({Metric.NED: "NED", Metric.OLMOCR: "olmOCR", Metric.TEDS: "TEDS"})
