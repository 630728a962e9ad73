"""`tierocr eval`: score tierocr (and optionally the bare engines) on the evaluation corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tierocr.config import load_settings
from tierocr.engines import available_engines
from tierocr.evaluation.corpus import read_manifest, select_rows
from tierocr.evaluation.models import RowResult
from tierocr.evaluation.report import print_summary, write_report
from tierocr.evaluation.runner import evaluate_corpus
from tierocr.evaluation.systems import default_systems


def eval_command(
    corpus_dir: Annotated[
        Path,
        typer.Argument(help="Folder with manifest.tsv.", exists=True, file_okay=False, resolve_path=True),
    ],
    engine: Annotated[str | None, typer.Option("--engine", help="Classical OCR engine for tierocr.")] = None,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="Also run the bare engines (full-page OCR, no post-processing)."),
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Score at most N documents.")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Only documents whose id contains this.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Report folder (default: eval.report_dir).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML settings file.")] = None,
) -> None:
    """Score every manifest row against its ground truth; write report.md and report.json."""
    console = Console(stderr=True)
    settings = load_settings(config, ocr={"engine": engine})
    unknown = {settings.ocr.engine, *(settings.eval.baseline_engines if baseline else [])} - set(
        available_engines()
    )
    if unknown:
        console.print(f"[red]unknown OCR engine(s): {', '.join(sorted(unknown))}[/red]")
        raise typer.Exit(code=2)
    report_dir = output or settings.eval.report_dir
    rows = select_rows(read_manifest(corpus_dir), only=only, limit=limit)
    if not rows:
        console.print(f"[red]no manifest rows match[/red] (only={only!r}, limit={limit})")
        raise typer.Exit(code=1)
    systems = default_systems(settings, baseline=baseline)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("evaluating", total=len(rows))

        def advance(row: RowResult) -> None:
            progress.update(task, advance=1, description=row.id)

        report = evaluate_corpus(
            corpus_dir,
            settings,
            systems,
            rows=rows,
            outputs_dir=report_dir / "outputs",
            progress=advance,
        )
    md_path, json_path = write_report(report, report_dir)
    out = Console()
    print_summary(report, out if out.is_terminal else Console(width=160))  # no wrapping in logs
    console.print(f"wrote {md_path} and {json_path}")
