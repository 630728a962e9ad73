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
from tierocr.quality.model import packaged_model_path

if TYPE_CHECKING:
    from tierocr.config import Settings
    from tierocr.evaluation.corpus import ManifestRow
    from tierocr.evaluation.gate import GateCalibration
    from tierocr.evaluation.systems import SystemFn

#: Manifest language codes to the OCR language codes a user would configure for such a document.
_MANIFEST_LANGUAGES = {"zh": "ch_sim", "en": "en", "de": "de", "fr": "fr", "ko": "ko", "ar": "ar", "ja": "ja"}


def manifest_languages(rows: list[ManifestRow]) -> dict[Path, list[str]]:
    """Each document's OCR languages as a user would configure them from the manifest's (plus English)."""
    languages: dict[Path, list[str]] = {}
    for row in rows:
        codes = [_MANIFEST_LANGUAGES.get(c.strip(), c.strip()) for c in row.language.split(",") if c.strip()]
        languages[row.file] = list(dict.fromkeys([*codes, "en"]))
    return languages


def build_systems(
    settings: Settings, rows: list[ManifestRow], *, baseline: bool, layout: bool, row_languages: bool
) -> list[SystemFn]:
    """tierocr first, then tierocr in layout mode and the bare engines when asked for."""
    from tierocr.evaluation.systems import BareEngineSystem, TierocrSystem

    languages = manifest_languages(rows) if row_languages else {}
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


def analyse_gate(
    calibration: GateCalibration,
    settings: Settings,
    report_dir: Path,
    console: Console,
    out: Console,
    *,
    install: Path | None,
) -> None:
    """Fit the calibrated gate on a calibration (seconds: no OCR), report its curves, and with
    ``install`` write the refitted model file there."""
    from tierocr.evaluation.gate_curves import fit_gate
    from tierocr.evaluation.gate_report import fit_markdown, plot_curves, print_fit

    target = settings.gate.target_recall
    try:
        result = fit_gate(calibration, settings.gate.hard_floors, target_recall=target)
    except ValueError as exc:
        console.print(f"[yellow]gate not fitted:[/yellow] {exc}")
        return
    print_fit(result, calibration, target, out)
    (report_dir / "gate_fit.md").write_text(fit_markdown(result, calibration, target), encoding="utf-8")
    result.model.save(report_dir / "gate_model.json")
    try:
        png = plot_curves(result, report_dir / "gate_curve.png", target)
        console.print(f"wrote {report_dir / 'gate_fit.md'}, {report_dir / 'gate_model.json'} and {png}")
    except ImportError:
        console.print("[yellow]no curve PNG: matplotlib is missing (pip install 'tierocr\\[eval]')[/yellow]")
    if install is not None:
        console.print(f"installed the refitted gate model: {result.model.save(install)}")


def eval_command(
    corpus_dir: Annotated[
        Path | None,
        typer.Argument(help="Folder with manifest.tsv.", exists=True, file_okay=False, resolve_path=True),
    ] = None,
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
    fit: Annotated[
        bool,
        typer.Option(
            "--fit",
            help="With --gate: refit the calibrated gate and write its model file (see --model-out).",
        ),
    ] = False,
    from_report: Annotated[
        Path | None,
        typer.Option(
            "--from-report",
            help="Calibrate from this report folder's gate.json instead of running the corpus (no OCR).",
            exists=True,
            file_okay=False,
            resolve_path=True,
        ),
    ] = None,
    model_out: Annotated[
        Path | None,
        typer.Option("--model-out", help="Where --fit writes the model (default: the package's own file)."),
    ] = None,
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
        from tierocr.evaluation.gate import (
            GateCalibration,
            calibrate,
            print_gate,
            recording,
            write_gate_report,
        )
        from tierocr.evaluation.models import RowResult
        from tierocr.evaluation.report import print_summary, write_report
        from tierocr.evaluation.runner import evaluate_corpus
    except ImportError as exc:
        console.print(
            f"[red]error:[/red] tierocr eval needs the eval extra (pip install 'tierocr\\[eval]'): {exc}"
        )
        raise typer.Exit(code=2) from exc
    settings = settings_or_exit(config, ocr={"engine": engine})
    install = (model_out or packaged_model_path()) if fit else None
    out = Console()
    if from_report is not None:
        saved = from_report / "gate.json"
        try:
            calibration = GateCalibration.model_validate_json(saved.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            console.print(f"[red]error:[/red] {saved}: not a gate report (run `tierocr eval --gate`): {exc}")
            raise typer.Exit(code=2) from exc
        target_dir = output or from_report
        target_dir.mkdir(parents=True, exist_ok=True)
        print_gate(calibration, out if out.is_terminal else Console(width=160))
        analyse_gate(calibration, settings, target_dir, console, out, install=install)
        return
    if corpus_dir is None:
        console.print("[red]error:[/red] give the corpus folder (or --from-report with a gate report)")
        raise typer.Exit(code=2)
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
    if gate or fit:
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
    print_summary(report, out if out.is_terminal else Console(width=160))  # no wrapping in logs
    console.print(f"wrote {md_path} and {json_path}")
    if gate or fit:
        by_id = {row.id: documents[row.file] for row in rows if row.file in documents}
        calibration = calibrate(report, by_id, system="tierocr")
        print_gate(calibration, out if out.is_terminal else Console(width=160))
        console.print(f"wrote {write_gate_report(calibration, report_dir)}")
        analyse_gate(calibration, settings, report_dir, console, out, install=install)
