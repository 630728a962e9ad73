"""`tierocr bench` and `tierocr compare`: the commands, their inputs checked before anything is loaded."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from tierocr.cli_settings import option_error, settings_or_exit
from tierocr.errors import TierOcrError

if TYPE_CHECKING:
    from tierocr.benchmark.models import BenchReport
    from tierocr.config import Settings
    from tierocr.evaluation.corpus import ManifestRow

_TARGETS_HELP = (
    "rapidocr, tesseract, tierocr, 'tierocr --no-layout' (quoted), "
    "vlm:URL?profile=NAME[&model=M&max_tokens=N] or a name from bench.targets in the configuration."
)
ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML settings file.")]
OutputOption = Annotated[
    Path | None, typer.Option("-o", "--output", help="Report folder (default: bench.report_dir).")
]
WarmOption = Annotated[
    int | None, typer.Option("--warm-requests", min=1, help="Warm single-image requests (default 20).")
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="Score at most N corpus documents.")]
OnlyOption = Annotated[
    str | None, typer.Option("--only", help="Only corpus documents whose id contains this.")
]


def _levels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        option_error(f"--concurrency {text!r}: give whole numbers separated by commas, e.g. 1,5,16")
    if not levels or min(levels) < 1:
        option_error(f"--concurrency {text!r}: each level must be at least 1")
    return levels


def _rows(corpus: Path | None, only: str | None, limit: int | None) -> list[ManifestRow]:
    if corpus is None:
        return []
    from tierocr.evaluation.corpus import read_manifest, select_rows

    try:
        rows = select_rows(read_manifest(corpus), only=only, limit=limit)
    except (OSError, ValueError) as exc:
        option_error(f"--corpus {corpus}: {exc}")
    if not rows:
        option_error(f"--corpus {corpus}: no manifest rows match (only={only!r}, limit={limit})")
    return rows


def _command_line(name: str, positional: list[str], options: dict[str, object]) -> str:
    """The command as a user would type it again, for the report's first line."""
    words = ["tierocr", name, *positional]
    for flag, value in options.items():
        if value is not None:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def _eval_extra(console: Console) -> None:
    try:
        import apted  # noqa: F401
        import fuzzysearch  # noqa: F401
        import lxml  # noqa: F401
    except ImportError as exc:
        console.print(
            f"[red]error:[/red] scoring a corpus needs the eval extra (pip install 'tierocr\\[eval]'): {exc}"
        )
        raise typer.Exit(code=2) from exc


def _run(
    specs: list[str], settings: Settings, report_dir: Path, console: Console, command: str, **plan: Any
) -> tuple[BenchReport, Path]:
    from tierocr.benchmark.models import BenchPlan
    from tierocr.benchmark.run import run_targets
    from tierocr.benchmark.targets import TargetError, parse_targets

    try:
        targets = parse_targets(specs, settings)
    except TargetError as exc:
        option_error(str(exc))
    corpus = plan.pop("corpus")
    b = settings.bench
    full = BenchPlan(
        warm_requests=b.warm_requests,
        throughput_rounds=b.throughput_rounds,
        throughput_min_requests=b.throughput_min_requests,
        cold_release=b.cold_release,
        outputs_dir=report_dir / "outputs",
        **plan,
    )
    return run_targets(targets, full, settings, console, command=command, corpus=corpus), report_dir


def bench_command(
    targets: Annotated[list[str], typer.Argument(help=_TARGETS_HELP, show_default=False)],
    images: Annotated[
        Path | None,
        typer.Option(
            "--images", help="Folder of images for the single-image requests.", exists=True, file_okay=False
        ),
    ] = None,
    pdf: Annotated[
        Path | None,
        typer.Option("--pdf", help="A document read whole: pages/s.", exists=True, dir_okay=False),
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option("--corpus", help="Folder with manifest.tsv: accuracy.", exists=True, file_okay=False),
    ] = None,
    concurrency: Annotated[
        str | None,
        typer.Option("--concurrency", help="Requests in flight, e.g. 1,5,16 (default bench.concurrency)."),
    ] = None,
    output: OutputOption = None,
    warm_requests: WarmOption = None,
    limit: LimitOption = None,
    only: OnlyOption = None,
    config: ConfigOption = None,
) -> None:
    """Measure OCR targets: cold start, warm latency, images/s per concurrency, pages/s, memory, accuracy."""
    from tierocr.benchmark.charts import bench_charts
    from tierocr.benchmark.report import print_summary, render_markdown, write_json, write_markdown
    from tierocr.benchmark.run import corpus_images, images_in, page_images, sample_document

    console = Console(stderr=True)
    settings = settings_or_exit(
        config, bench={"warm_requests": warm_requests, "concurrency": _levels(concurrency)}
    )
    rows = _rows(corpus, only, limit)
    if rows:
        _eval_extra(console)
    report_dir = (output or settings.bench.report_dir).resolve()
    try:
        if images is not None:
            request_images = images_in(images)
        elif rows and corpus_images(rows, settings.bench.request_images):
            request_images = corpus_images(rows, settings.bench.request_images)
        else:
            source = pdf or sample_document()
            request_images = page_images(
                source, settings.input, report_dir / "inputs", settings.bench.request_images
            )
    except TierOcrError as exc:
        option_error(str(exc))
    options = {"--images": images, "--pdf": pdf, "--corpus": corpus, "--concurrency": concurrency}
    options |= {"-o": output, "--warm-requests": warm_requests, "--limit": limit, "--only": only}
    report, _ = _run(
        targets,
        settings,
        report_dir,
        console,
        _command_line("bench", targets, options | {"--config": config}),
        images=request_images,
        pdf=pdf,
        rows=rows,
        concurrency=settings.bench.concurrency,
        corpus=corpus,
    )
    json_path = write_json(report, report_dir)
    charts: list[Path] = []
    try:
        charts = bench_charts(report, report_dir)
    except ImportError:
        console.print("[yellow]no charts: matplotlib is missing (pip install 'tierocr\\[eval]')[/yellow]")
    md_path = write_markdown(render_markdown(report, charts), report_dir)
    out = Console()
    print_summary(report, out if out.is_terminal else Console(width=160))
    console.print(f"wrote {md_path}, {json_path}" + "".join(f", {p.name}" for p in charts))
    if any(t.error for t in report.targets):
        raise typer.Exit(code=1)


def _load_run(folder: Path, corpus: Path | None) -> tuple[BenchReport, list[ManifestRow]]:
    """A finished compare run (its report.json) and the manifest rows it covered, for a re-render."""
    import json

    from tierocr.benchmark.models import BenchReport
    from tierocr.evaluation.corpus import read_manifest

    path = folder / "report.json"
    try:
        report = BenchReport.model_validate(json.loads(path.read_text(encoding="utf-8"))["bench"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        option_error(f"--from-report {folder}: not a compare report ({path}): {exc}")
    source = corpus or (Path(report.corpus) if report.corpus else None)
    if source is None:
        option_error(f"--from-report {folder}: the report names no corpus; give --corpus")
    try:
        covered = {row.id for row in report.rows}
        rows = [row for row in read_manifest(source) if row.id in covered]
    except (OSError, ValueError) as exc:
        option_error(f"--corpus {source}: {exc}")
    return report, rows


def compare_command(
    a: Annotated[
        str | None, typer.Argument(help="First target. " + _TARGETS_HELP, show_default=False)
    ] = None,
    b: Annotated[str | None, typer.Argument(help="Second target.", show_default=False)] = None,
    corpus: Annotated[
        Path | None, typer.Option("--corpus", help="Folder with manifest.tsv.", exists=True, file_okay=False)
    ] = None,
    output: OutputOption = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Also write the report, without diff links, to this .md and its chart beside it (.png).",
            dir_okay=False,
        ),
    ] = None,
    from_report: Annotated[
        Path | None,
        typer.Option(
            "--from-report",
            help="Re-render this finished compare folder with the current scorers (no OCR); no A and B.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    warm_requests: WarmOption = None,
    limit: LimitOption = None,
    only: OnlyOption = None,
    config: ConfigOption = None,
) -> None:
    """A and B on the same corpus, dimension by dimension, with HTML diffs where they disagree most."""
    from tierocr.benchmark.compare import print_dimensions, write_compare
    from tierocr.benchmark.run import corpus_images, page_images

    console = Console(stderr=True)
    settings = settings_or_exit(config, bench={"warm_requests": warm_requests})
    _eval_extra(console)
    if from_report is not None:
        if a is not None or b is not None:
            option_error("--from-report re-renders a finished run: give no targets")
        report, rows = _load_run(from_report, corpus)
        report_dir = from_report.resolve()
    else:
        if a is None or b is None or corpus is None:
            option_error("give two targets and --corpus (or --from-report with a finished compare folder)")
        rows = _rows(corpus, only, limit)
        report_dir = (output or settings.bench.report_dir).resolve()
        count = settings.bench.request_images
        request_images = corpus_images(rows, count)
        try:
            if not request_images:  # a corpus of PDFs only: their first pages stand in
                for row in rows[:count]:
                    request_images += page_images(row.file, settings.input, report_dir / "inputs", 1)
        except TierOcrError as exc:
            option_error(str(exc))
        options = {"--corpus": corpus, "-o": output, "--summary": summary, "--warm-requests": warm_requests}
        options |= {"--limit": limit, "--only": only, "--config": config}
        report, _ = _run(
            [a, b],
            settings,
            report_dir,
            console,
            _command_line("compare", [a, b], options),
            images=request_images,
            pdf=None,
            rows=rows,
            concurrency=[settings.bench.compare_concurrency],
            corpus=corpus,
        )
    lines, written = write_compare(report, rows, report_dir, settings, console, summary=summary)
    out = Console()
    print_dimensions(lines, report.names, out if out.is_terminal else Console(width=160))
    console.print(f"wrote {report_dir / 'report.md'} and {len(written) - 2} more files")
    if any(t.error for t in report.targets):
        raise typer.Exit(code=1)
