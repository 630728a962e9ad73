"""`tierocr parse`: documents in, Markdown and JSON out, one clear line per input that fails."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from tierocr.cli_settings import check_engines, settings_or_exit
from tierocr.config import Settings
from tierocr.document import FATAL_STAGES, Document
from tierocr.engines import available_engines
from tierocr.errors import TierOcrError
from tierocr.inputs import expand_inputs
from tierocr.parallel import DocumentDone, DocumentFailed, DocumentStarted, PageDone, Source
from tierocr.pipeline import Pipeline
from tierocr.render.chunks import chunk_document
from tierocr.render.json import render_json
from tierocr.render.markdown import render_markdown

log = logging.getLogger(__name__)


class Escalate(StrEnum):
    auto = "auto"
    never = "never"
    always = "always"


class OutputFormat(StrEnum):
    md = "md"
    json = "json"
    both = "both"


def _output_stem(path: Path, taken: set[str]) -> str:
    """A file name for ``path``'s outputs that no earlier input of the same call has used."""
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in path.stem) or "document"
    candidate, n = stem, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate)
    return candidate


class OutputError(TierOcrError):
    """An output file could not be written; names the file and the reason, in the OS's words."""

    def __init__(self, path: Path, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        super().__init__(f"{path}: cannot write: {reason}")
        self.path = path


def _atomic_write(path: Path, chunks: Iterable[str]) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, flushed to disk, then renamed.

    A full disk or a vanished directory then leaves the previous file (or none), never a truncated one,
    and the temporary file is removed.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def output_dir_problem(outdir: Path) -> str | None:
    """Why ``-o`` cannot be the output directory, found before any input is parsed; None when it can."""
    if outdir.exists() and not outdir.is_dir():
        return f"-o/--output: {outdir} exists and is not a directory"
    return None


def write_outputs(
    doc: Document, outdir: Path, stem: str, fmt: OutputFormat, settings: Settings, chunks: bool
) -> list[Path]:
    """Write the outputs asked for; raises :class:`OutputError` at the first one that cannot be written
    (those written before it are complete and stay)."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(outdir, exc) from exc
    written: list[Path] = []
    if fmt in (OutputFormat.md, OutputFormat.both):
        md_path = outdir / f"{stem}.md"
        _atomic_write(md_path, [render_markdown(doc, settings.render)])
        written.append(md_path)
    if fmt in (OutputFormat.json, OutputFormat.both):
        json_path = outdir / f"{stem}.json"
        _atomic_write(json_path, [render_json(doc)])
        written.append(json_path)
    if chunks:
        chunk_path = outdir / f"{stem}.chunks.jsonl"
        lines = (chunk.model_dump_json() + "\n" for chunk in chunk_document(doc, settings.render))
        _atomic_write(chunk_path, lines)
        written.append(chunk_path)
    return written


def parse_command(
    inputs: Annotated[list[Path], typer.Argument(help="PDF or image files, or directories of them.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Output directory; Markdown goes to stdout when absent."),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="What to write into the output directory.")
    ] = (OutputFormat.md),
    pages: Annotated[str | None, typer.Option(help="Page range, e.g. 1-3,7 (default: all).")] = None,
    dpi: Annotated[
        int | None, typer.Option(help="Rasterisation DPI for PDF pages (default from config).")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help=f"Classical OCR engine: {', '.join(available_engines())} (default from config)."),
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Comma-separated languages, e.g. en,ch_sim.")] = None,
    password: Annotated[str | None, typer.Option(help="Password for encrypted PDFs.")] = None,
    no_text_layer: Annotated[
        bool, typer.Option("--no-text-layer", help="OCR every page, ignore PDF text.")
    ] = False,
    escalate: Annotated[
        Escalate | None,
        typer.Option(help="Send pages to the VLM (TIEROCR_VLM_URL): auto = those the quality gate rejects."),
    ] = None,
    layout: Annotated[
        bool | None,
        typer.Option("--layout/--no-layout", help="Layout mode: detect regions and read each by its task."),
    ] = None,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also write RAG chunks as JSON lines.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0, help="Pages read at the same time, across documents (default from config: every core)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config file (else TIEROCR_CONFIG).")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars.")] = False,
) -> None:
    """Parse documents into Markdown and JSON. Exit code 0 only if every input succeeded."""
    err = Console(stderr=True)
    settings = settings_or_exit(
        config,
        input={"dpi": dpi, "password": password},
        ocr={
            "engine": engine,
            "languages": [x.strip() for x in lang.split(",") if x.strip()] if lang else None,
        },
        text_layer={"enabled": False} if no_text_layer else None,
        vlm={"escalate": escalate.value if escalate else None},
        layout={"enabled": layout},
        pipeline={"workers": workers},
    )
    check_engines(settings.ocr.engine)
    problem = output_dir_problem(output) if output is not None else None
    if problem is not None:
        err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    files = expand_inputs(inputs)
    if not files:
        err.print("[red]error:[/red] no input documents found")
        raise typer.Exit(2)
    pipeline = Pipeline(settings)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
    )
    try:
        with progress:
            failures = _parse_all(pipeline, files, pages, progress, err, output, fmt, settings, chunks)
    except KeyboardInterrupt:
        # The pages in work are finished or dropped, documents closed; outputs already written stay
        # whole (each is written to a temporary file and renamed).
        pipeline.close(wait=False)
        err.print("[yellow]interrupted[/yellow]: stopped before every input was parsed")
        raise typer.Exit(130) from None
    pipeline.close()
    if failures:
        raise typer.Exit(1)


def _parse_all(
    pipeline: Pipeline,
    files: list[Path],
    pages: str | None,
    progress: Progress,
    err: Console,
    output: Path | None,
    fmt: OutputFormat,
    settings: Settings,
    chunks: bool,
) -> int:
    """Every input through the page workers, one after another in the output; returns the failures."""
    failures = 0
    taken: set[str] = set()
    overall = progress.add_task("documents", total=len(files))
    tasks: dict[int, TaskID] = {}
    docs: dict[int, Document] = {}
    events = pipeline.run([Source(path, pages=pages) for path in files])
    # Closed here, not whenever it is collected: on Ctrl-C, pages in work finish and documents close.
    with contextlib.closing(events):
        for event in events:
            if isinstance(event, DocumentStarted):
                docs[event.index] = event.document
                tasks[event.index] = progress.add_task(f"  {files[event.index].name}", total=event.total)
            elif isinstance(event, PageDone):
                docs[event.index].pages.append(event.page)
                progress.advance(tasks[event.index])
            elif isinstance(event, DocumentFailed):
                failures += 1
                err.print(f"[red]error:[/red] {event.error}", highlight=False, soft_wrap=True)
                progress.advance(overall)
            elif isinstance(event, DocumentDone):
                progress.remove_task(tasks.pop(event.index))
                doc = docs.pop(event.index)
                failures += _report(doc, files[event.index], err, output, fmt, settings, chunks, taken)
                progress.advance(overall)
    return failures


def _report(
    doc: Document,
    path: Path,
    err: Console,
    output: Path | None,
    fmt: OutputFormat,
    settings: Settings,
    chunks: bool,
    taken: set[str],
) -> int:
    """Page errors and warnings on stderr, the outputs written; 1 when the input failed, else 0."""
    failed = 0
    # A page that could not be loaded or read at all fails the input; a region or an escalation that
    # failed while the page itself was produced (the classical result kept) is a warning.
    if any(e.stage in FATAL_STAGES for p in doc.pages for e in p.errors):
        failed = 1
    for page in doc.pages:
        for error in page.errors:
            label = "[red]error:[/red]" if error.stage in FATAL_STAGES else "[yellow]warning:[/yellow]"
            err.print(f"{label} {path}: page {page.number}: {error.message}", highlight=False, soft_wrap=True)
    if output is None:
        sys.stdout.write(render_markdown(doc, settings.render))
        sys.stdout.flush()
        return failed
    try:
        written = write_outputs(doc, output, _output_stem(path, taken), fmt, settings, chunks)
    except OutputError as exc:  # a full disk or an unwritable folder fails this input only
        err.print(f"[red]error:[/red] {path}: {exc}", highlight=False, soft_wrap=True)
        return 1
    err.print(f"{path} -> {', '.join(str(w) for w in written)}", highlight=False)
    return failed
