"""`tierocr batch`: whole archives, every page checkpointed; `batch status`, `batch retry-failed`.

``tierocr batch IN -o OUT`` is ``tierocr batch run IN -o OUT``: a first argument that names no
subcommand is the input of a run. Started again with the same output folder, a run resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from tierocr.cli_settings import check_engines, settings_or_exit
from tierocr.config import Settings


class _RunByDefault(TyperGroup):
    """`tierocr batch IN ...` runs; `tierocr batch status ...` and the other subcommands are themselves."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


batch_app = typer.Typer(
    cls=_RunByDefault,
    help="Parse whole archives with every page checkpointed: a run killed at any point resumes when started "
    "again with the same output folder.",
    no_args_is_help=True,
)


class Format(StrEnum):
    md = "md"
    json = "json"
    both = "both"


class Escalate(StrEnum):
    auto = "auto"
    never = "never"
    always = "always"


OutOpt = Annotated[Path, typer.Option("-o", "--output", help="Output folder; the run is named by it.")]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Job store: sqlite:///path or postgresql://… (default OUT/.tierocr/batch.sqlite3)."
    ),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="Page worker processes (default: one per core).")
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray", help="Run the page tasks on Ray: 'auto' (RAY_ADDRESS or a local cluster) or ADDRESS."
    ),
]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar, no per-document lines.")]
EventsOpt = Annotated[
    Path | None,
    typer.Option("--events", help="Write one JSON line per page and document here ('-': stdout)."),
]
ConfigOpt = Annotated[Path | None, typer.Option(help="YAML config file (else TIEROCR_CONFIG).")]


def _fail(err: Console, message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@batch_app.command("run")
def run_command(
    source: Annotated[
        Path,
        typer.Argument(metavar="INPUT", help="A folder (searched recursively), a document, or a list file."),
    ],
    output: OutOpt,
    workers: WorkersOpt = None,
    db: DbOpt = None,
    retries: Annotated[
        int | None, typer.Option(help="Tries of a failing page after the first (default 3).")
    ] = None,
    ray: RayOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="What to write per document.")] = Format.both,
    pages: Annotated[str | None, typer.Option(help="Page range of every document, e.g. 1-3,7.")] = None,
    dpi: Annotated[int | None, typer.Option(help="Rasterisation DPI for PDF pages.")] = None,
    engine: Annotated[str | None, typer.Option(help="Classical OCR engine (default from config).")] = None,
    lang: Annotated[str | None, typer.Option(help="Comma-separated languages, e.g. en,ch_sim.")] = None,
    no_text_layer: Annotated[bool, typer.Option("--no-text-layer", help="OCR every page.")] = False,
    escalate: Annotated[
        Escalate | None, typer.Option(help="Send pages to the VLM (TIEROCR_VLM_URL).")
    ] = None,
    layout: Annotated[bool | None, typer.Option("--layout/--no-layout", help="Layout mode.")] = None,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also write RAG chunks as JSON lines.")] = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    events: EventsOpt = None,
) -> None:
    """Parse every document of INPUT into OUT, each page checkpointed; the same command resumes."""
    from tierocr.batch.plan import BatchInputError, list_inputs, new_documents, run_id

    err = Console(stderr=True)
    overrides: dict[str, Any] = {
        "input": {"dpi": dpi},
        "ocr": {
            "engine": engine,
            "languages": [x.strip() for x in lang.split(",") if x.strip()] if lang else None,
        },
        "text_layer": {"enabled": False} if no_text_layer else {},
        "vlm": {"escalate": escalate.value if escalate else None},
        "layout": {"enabled": layout},
    }
    run_options = {"overrides": overrides, "format": fmt.value, "chunks": chunks, "pages": pages}
    settings = _settings(config, overrides, workers=workers, db=db, retries=retries, ray=ray)
    check_engines(settings.ocr.engine)
    if output.exists() and not output.is_dir():
        raise _fail(err, f"-o/--output: {output} exists and is not a directory")
    try:
        files, base = list_inputs(source)
    except BatchInputError as exc:
        raise _fail(err, str(exc)) from exc
    if not files:
        raise _fail(err, f"{source}: no input documents found")
    rid = run_id(output)
    with _opened(settings, output, rid, err) as store:
        _check_run(store, rid, output, run_options, settings, err)
        known = {d.id: d.stem or "" for d in store.documents(rid)}
        store.add_documents(rid, new_documents(rid, files, base, known, {"pages": pages}))
        code = _execute(store, settings, rid, output, run_options, err, quiet=quiet, events=events)
    raise typer.Exit(code)


@batch_app.command("status")
def status_command(
    output: Annotated[Path, typer.Argument(metavar="OUT", help="The run's output folder.")],
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    limit: Annotated[int, typer.Option(help="Most dead-letter rows shown.")] = 50,
    config: ConfigOpt = None,
) -> None:
    """Documents and pages of a run by state, tiers, escalations, and the dead-letter list."""
    from tierocr.batch.display import dead_letter_table, status_table
    from tierocr.batch.plan import run_id
    from tierocr.batch.report import run_report

    err = Console(stderr=True)
    settings = _settings(config, {}, db=db)
    rid = run_id(output)
    store = _store(settings, output, err)
    try:
        if store.run(rid) is None:
            raise _fail(err, f"{output}: no batch run in {store.label}")
        summary, dead, failed = run_report(store, rid, limit)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({**summary, "dead_letter": dead, "failed_documents": failed}, indent=2))
        return
    console = Console()
    console.print(status_table(summary, dead, failed))
    if dead or failed:
        console.print(dead_letter_table(dead, failed))


@batch_app.command("retry-failed")
def retry_command(
    output: Annotated[Path, typer.Argument(metavar="OUT", help="The run's output folder.")],
    db: DbOpt = None,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    events: EventsOpt = None,
) -> None:
    """Give the dead-letter pages and failed documents of a run new tries, and run them."""
    from tierocr.batch.plan import run_id
    from tierocr.batch.schema import DocStatus

    err = Console(stderr=True)
    rid = run_id(output)
    probe = _settings(config, {}, db=db)
    with _opened(probe, output, rid, err) as store:
        record = store.run(rid)
        if record is None:
            raise _fail(err, f"{output}: no batch run in {store.label}")
        settings = _settings(config, record.options["overrides"], workers=workers, db=db, ray=ray)
        _check_run(store, rid, output, record.options, settings, err)
        docs = store.documents(rid)
        pages = store.retry_dead([d.id for d in docs])
        again = [
            d
            for d in docs
            if d.status is DocStatus.FAILED or (d.pages_dead and d.status is DocStatus.SUCCEEDED)
        ]
        for doc in again:
            store.update_document(doc.id, status=DocStatus.QUEUED, error=None)
        err.print(f"{pages} dead-letter page(s) and {len(again)} document(s) queued again", highlight=False)
        code = _execute(store, settings, rid, output, record.options, err, quiet=quiet, events=events)
    raise typer.Exit(code)


# --- shared -------------------------------------------------------------------------------------------


def _settings(
    config: Path | None,
    overrides: dict[str, Any],
    *,
    workers: int | None = None,
    db: str | None = None,
    retries: int | None = None,
    ray: str | None = None,
) -> Settings:
    batch = {"workers": workers, "db": db, "retries": retries, "ray_address": ray}
    return settings_or_exit(config, **overrides, batch=batch)


def _store(settings: Settings, output: Path, err: Console) -> Any:
    from tierocr.batch.plan import default_db
    from tierocr.batch.records import StoreError

    try:
        from tierocr.batch.store import PageStore

        return PageStore(settings.batch.db or default_db(output))
    except ImportError as exc:  # SQLAlchemy (or pg8000 for a PostgreSQL store) is not installed
        raise _fail(
            err, f"tierocr batch needs the batch extra (pip install 'tierocr\\[batch]'): {exc}"
        ) from exc
    except StoreError as exc:
        raise _fail(err, str(exc)) from exc


@contextlib.contextmanager
def _opened(settings: Settings, output: Path, rid: str, err: Console) -> Iterator[Any]:
    """The store, with this run held by this process for as long as the block runs."""
    from tierocr.batch.locks import RunBusyError

    store = _store(settings, output, err)
    try:
        try:
            lock = store.lock_run(rid)
        except RunBusyError as exc:
            raise _fail(err, str(exc)) from exc
        with lock:
            yield store
    finally:
        store.close()


def _check_run(
    store: Any, rid: str, output: Path, options: dict[str, Any], settings: Settings, err: Console
) -> None:
    """A run resumed with settings that change what pages read as is refused: it would mix two results."""
    from tierocr.batch.plan import changed_sections, fingerprint

    current = fingerprint(settings)
    record = store.run(rid)
    if record is not None:
        changed = changed_sections(record.fingerprint, current)
        if changed:
            raise _fail(
                err,
                f"{output} was started with other settings ({', '.join(changed)}): resume it with the "
                "options and configuration it was started with, or give a new -o",
            )
    store.save_run(rid, str(output.resolve()), options, current)


def _execute(
    store: Any,
    settings: Settings,
    rid: str,
    output: Path,
    options: dict[str, Any],
    err: Console,
    *,
    quiet: bool,
    events: Path | None,
) -> int:
    """Run the run's unfinished documents; prints the summary; the exit code (0: everything read)."""
    from tierocr.batch.display import BatchProgress, summary_table
    from tierocr.batch.report import run_report
    from tierocr.batch.runner import BatchRunner
    from tierocr.batch.schema import DOC_FINAL, DocStatus, PageStatus

    docs = store.documents(rid)
    finished = sum(1 for d in docs if d.status in DOC_FINAL)
    with _events_file(events, err) as sink:
        progress = BatchProgress(err, docs_total=len(docs), docs_finished=finished, quiet=quiet, events=sink)
        runner = BatchRunner(
            store,
            settings,
            lambda: _backend(settings, err),
            run_id=rid,
            output=output,
            fmt=options["format"],
            chunks=options["chunks"],
            on_event=progress,
        )
        with progress, _stop_on_signals(runner):
            stats = runner.run()
    summary, _, failed = run_report(store, rid, 0)
    if not quiet:
        label = runner.backend_label or "none (nothing left to read)"
        err.print(summary_table(summary, stats, label))
    dead = summary["pages"]["status"].get(PageStatus.DEAD, 0)
    left = sum(summary["documents"].get(s, 0) for s in (DocStatus.QUEUED, DocStatus.RUNNING))
    return 1 if dead or failed or left else 0


def _backend(settings: Settings, err: Console) -> Any:
    from tierocr.batch.local import LocalWorkers

    if settings.batch.ray_address:
        from tierocr.batch.ray_backend import RayUnavailableError, RayWorkers

        try:
            return RayWorkers(
                settings, settings.batch.ray_address, settings.batch.workers, settings.batch.pages_per_worker
            )
        except RayUnavailableError as exc:
            raise _fail(err, str(exc)) from exc
    workers = settings.batch.workers or len(os.sched_getaffinity(0)) or 1
    return LocalWorkers(settings, workers, settings.batch.pages_per_worker)


@contextlib.contextmanager
def _events_file(path: Path | None, err: Console) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
    elif str(path) == "-":
        yield sys.stdout
    else:
        try:
            handle = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise _fail(err, f"--events {path}: {exc.strerror}") from exc
        with handle:
            yield handle


@contextlib.contextmanager
def _stop_on_signals(runner: Any) -> Iterator[None]:
    """Ctrl-C or SIGTERM: stop handing out pages and give the ones out back (a second Ctrl-C is brutal)."""

    def stop(signum: int, _frame: Any) -> None:
        runner.request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
