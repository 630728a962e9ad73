"""The inputs of a run, every target through the same plan with a progress bar, and the merged report."""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tierocr.benchmark.measure import measure_target
from tierocr.benchmark.models import BenchPlan, BenchReport, TargetResult
from tierocr.benchmark.targets import Target
from tierocr.config import InputSettings, Settings
from tierocr.errors import InputError
from tierocr.evaluation.corpus import ManifestRow
from tierocr.evaluation.models import RowResult
from tierocr.inputs import DOCUMENT_SUFFIXES, expand_inputs

_IMAGE_SUFFIXES = DOCUMENT_SUFFIXES - {".pdf"}


def images_in(folder: Path) -> list[Path]:
    """The images of ``folder`` (recursively, sorted); none is a mistake worth naming."""
    found = [p for p in expand_inputs([folder]) if p.suffix.lower() in _IMAGE_SUFFIXES]
    if not found:
        raise InputError(str(folder), f"no images ({', '.join(sorted(_IMAGE_SUFFIXES))})")
    return found


def corpus_images(rows: list[ManifestRow], limit: int) -> list[Path]:
    """The corpus's image documents (the first ``limit``): the user's own pages as single requests."""
    return [row.file for row in rows if row.file.suffix.lower() in _IMAGE_SUFFIXES][:limit]


def page_images(document: Path, settings: InputSettings, folder: Path, limit: int) -> list[Path]:
    """The first ``limit`` pages of ``document`` written as PNG into ``folder``: requests of one image."""
    from tierocr.inputs import open_document

    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    with open_document(document, settings) as loaded:
        for page in loaded.iter_pages():
            if len(out) >= limit:
                break
            target = folder / f"{document.stem}-p{page.number}.png"
            page.image.save(target)
            out.append(target)
    return out


def sample_document() -> Path:
    """The bundled two-page sample (one born-digital page, one scan): the images when none are given."""
    return Path(str(resources.files("tierocr.samples").joinpath("sample.pdf")))


def _merge_rows(results: list[TargetResult], rows: list[ManifestRow]) -> list[RowResult]:
    by_id: dict[str, RowResult] = {}
    for result in results:
        for row in result.corpus:
            merged = by_id.setdefault(row.id, row.model_copy(update={"results": {}}))
            merged.results.update(row.results)
    return [by_id[row.id] for row in rows if row.id in by_id]


def run_targets(
    targets: list[Target],
    plan: BenchPlan,
    settings: Settings,
    console: Console,
    *,
    command: str,
    corpus: Path | None = None,
) -> BenchReport:
    """Each target in turn (never two at once: they would share the CPU and spoil each other's numbers)."""
    from tierocr.benchmark.worker import run_in_child
    from tierocr.evaluation.summary import summarize

    results: list[TargetResult] = []
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for target in targets:
            task = progress.add_task(target.name, total=plan.steps())

            def step(label: str, advance: int, task: int = task, name: str = target.name) -> None:
                progress.update(task, advance=advance, description=f"{name}: {label}")

            try:
                if target.own_process:
                    result = run_in_child(target, plan, settings, step)
                else:
                    result = measure_target(target, plan, settings, step)
            except Exception as exc:  # one target's failure is the report's data, the others still run
                error = f"{type(exc).__name__}: {exc}"
                result = TargetResult(name=target.name, spec=target.spec, kind=target.kind, error=error)
            progress.update(task, completed=plan.steps(), description=f"{target.name}: done")
            results.append(result)
    rows = _merge_rows(results, plan.rows)
    names = [t.name for t in targets]
    return BenchReport(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        command=command,
        images=[str(p) for p in plan.images],
        pdf=str(plan.pdf) if plan.pdf else None,
        corpus=str(corpus) if corpus is not None else None,
        concurrency=plan.concurrency,
        bad_ned_threshold=settings.eval.bad_ned_threshold,
        targets=results,
        rows=rows,
        summary=summarize(rows, names, settings.eval.bad_ned_threshold) if rows else [],
        machine={
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": _cpu_count(),
            "server_workers": settings.server.workers,
        },
    )


def _cpu_count() -> int | None:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count()
