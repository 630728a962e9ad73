"""`tierocr eval`: score tierocr (and optionally the bare engines) on the evaluation corpus."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tierocr.cli_settings import settings_or_exit
from tierocr.document import Document
from tierocr.engines import available_engines

if TYPE_CHECKING:
    from tierocr.config import Settings
    from tierocr.evaluation.corpus import ManifestRow
    from tierocr.evaluation.systems import SystemFn

#: Manifest language codes to the OCR language codes a user would configure for such a document.
_MANIFEST_LANGUAGES = {"zh": "ch_sim", "en": "en", "de": "de", "fr": "fr", "ko": "ko", "ar": "ar", "ja": "ja"}


def build_systems(
    settings: Settings, rows: list[ManifestRow], *, baseline: bool, layout: bool, row_languages: bool
) -> list[SystemFn]:
    """tierocr first, then tierocr in layout mode and the bare engines when asked for."""
    from tierocr.evaluation.systems import BareEngineSystem, TierocrSystem

    languages: dict[Path, list[str]] = {}
    if row_languages:
        for row in rows:
            codes = [
                _MANIFEST_LANGUAGES.get(c.strip(), c.strip()) for c in row.language.split(",") if c.strip()
            ]
            languages[row.file] = list(dict.fromkeys([*codes, "en"]))
    systems: list[SystemFn] = [TierocrSystem(settings, languages=languages)]
    if layout:
        flipped = not settings.layout.enabled
        other = settings.model_copy(
            update={"layout": settings.layout.model_copy(update={"enabled": flipped})}
        )
        name = "tierocr-layout" if flipped else "tierocr-no-layout"
        systems.append(TierocrSystem(other, name=name, languages=languages))
    if baseline:
        systems.extend(BareEngineSystem(settings, name) for name in settings.eval.baseline_engines)
    return systems


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
    layout: Annotated[
        bool,
        typer.Option("--layout", help="Also run tierocr with layout mode flipped: on vs off, side by side."),
    ] = False,
    gate: Annotated[
        bool,
        typer.Option(
            "--gate", help="Calibrate the quality gate: its verdicts beside each document's real error."
        ),
    ] = False,
    row_languages: Annotated[
        bool,
        typer.Option(
            "--row-languages/--config-languages",
            help="tierocr reads each document with the manifest's languages (as a user would configure).",
        ),
    ] = True,
) -> None:
    """Score every manifest row against its ground truth; write report.md and report.json."""
    console = Console(stderr=True)
    try:
        from tierocr.evaluation.corpus import read_manifest, select_rows
        from tierocr.evaluation.gate import calibrate, print_gate, recording, write_gate_report
        from tierocr.evaluation.models import RowResult
        from tierocr.evaluation.report import print_summary, write_report
        from tierocr.evaluation.runner import evaluate_corpus
    except ImportError as exc:
        console.print(
            f"[red]error:[/red] tierocr eval needs the eval extra (pip install 'tierocr\\[eval]'): {exc}"
        )
        raise typer.Exit(code=2) from exc
    settings = settings_or_exit(config, ocr={"engine": engine})
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
    documents: dict[Path, Document] = {}
    systems = build_systems(settings, rows, baseline=baseline, layout=layout, row_languages=row_languages)
    if gate:
        systems[0] = recording(systems[0], documents)
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
    if gate:
        by_id = {row.id: documents[row.file] for row in rows if row.file in documents}
        calibration = calibrate(report, by_id, system="tierocr")
        print_gate(calibration, out if out.is_terminal else Console(width=160))
        console.print(f"wrote {write_gate_report(calibration, report_dir)}")
