"""`tierocr index` and `tierocr search`: a parsed archive, searchable offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tierocr.config import Settings, load_settings
from tierocr.config.index import SearchMode
from tierocr.document import Document
from tierocr.errors import TierOcrError

_DB_HELP = "Index: a SQLite file or a postgresql:// URL (default: index.db, else data_dir/index.sqlite)."


def _settings(config: Path | None, err: Console, **index: Any) -> Settings:
    try:
        return load_settings(config, index=index)
    except (ValueError, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] configuration: {exc}")
        raise typer.Exit(2) from exc


def _open(settings: Settings, db: str | None, err: Console) -> Any:
    from tierocr.index.embed import EmbeddingError
    from tierocr.index.service import SearchIndex
    from tierocr.index.store import IndexStoreError

    try:
        return SearchIndex(settings, db)
    except (EmbeddingError, IndexStoreError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except ImportError as exc:
        err.print(
            f"[red]error:[/red] the index needs the index extra (pip install 'tierocr\\[index]'): {exc}"
        )
        raise typer.Exit(2) from exc


def _expand(inputs: list[Path]) -> list[Path]:
    """Documents and the Document JSON files `tierocr parse --format json` wrote, folders expanded."""
    from tierocr.inputs import expand_inputs

    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(item.rglob("*.json")))
        files.extend(expand_inputs([item]))
    return list(dict.fromkeys(files))


def index_command(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="PDFs, images, Document JSON from `tierocr parse`, or folders of them."),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    delete: Annotated[
        list[str] | None, typer.Option("--delete", help="Remove this document (its id) from the index.")
    ] = None,
    list_docs: Annotated[bool, typer.Option("--list", help="List the indexed documents.")] = False,
    pages: Annotated[str | None, typer.Option(help="Parse only these pages, e.g. 3 (updates them).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config file (else TIEROCR_CONFIG).")] = None,
) -> None:
    """Parse documents (or take parsed JSON) and store every chunk with its embedding.

    A file indexed before is parsed again only if its bytes or the parse settings changed; a document
    indexed again replaces all its chunks, and a parse of some pages replaces those pages' chunks.
    """
    err = Console(stderr=True, soft_wrap=True)
    settings = _settings(config, err)
    files = _expand(inputs or [])
    if inputs and not files:
        err.print("[red]error:[/red] no input documents found")
        raise typer.Exit(2)
    index = _open(settings, db, err)
    failures = 0
    try:
        for doc_id in delete or []:
            removed = index.delete(doc_id)
            failures += not removed
            err.print(f"{doc_id}: {'deleted' if removed else '[red]not in the index[/red]'}", highlight=False)
        parse = _parser(settings, pages)
        for path in files:
            try:
                result = index.index_file(path, parse)
            except (TierOcrError, ValueError, OSError) as exc:
                failures += 1
                err.print(f"[red]error:[/red] {path}: {exc}", highlight=False, soft_wrap=True)
                continue
            err.print(
                f"{result.doc_id}: {result.status}, {result.chunks} chunks ({result.embedded} embedded)",
                highlight=False,
            )
        if list_docs:
            for doc in index.documents():
                typer.echo(f"{doc.doc_id}\t{doc.page_count} pages\t{doc.chunks} chunks")
    finally:
        index.close()
    if failures:
        raise typer.Exit(1)


def _parser(settings: Settings, pages: str | None) -> Any:
    state: dict[str, Any] = {}

    def parse(path: Path) -> Document:
        from tierocr.pipeline import Pipeline

        if "pipeline" not in state:  # OCR models load only if some input needs parsing
            state["pipeline"] = Pipeline(settings)
        return state["pipeline"].parse(path, pages=pages)

    return parse


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    k: Annotated[int | None, typer.Option("-k", "--top", min=1, help="Hits to show (default 10).")] = None,
    hybrid: Annotated[bool, typer.Option("--hybrid", help="Keyword and vector search, fused.")] = False,
    mode: Annotated[
        str | None, typer.Option("--mode", help="keyword, vector or hybrid (default: index.search_mode).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Hits as JSON lines.")] = False,
    config: Annotated[Path | None, typer.Option(help="YAML config file (else TIEROCR_CONFIG).")] = None,
) -> None:
    """Search the index: each hit with its document, page, snippet and score."""
    err = Console(stderr=True, soft_wrap=True)
    if mode is not None and mode not in ("keyword", "vector", "hybrid"):
        err.print(f"[red]error:[/red] --mode must be keyword, vector or hybrid, not {mode!r}")
        raise typer.Exit(2)
    chosen: SearchMode | None = "hybrid" if hybrid else mode  # type: ignore[assignment]
    settings = _settings(config, err)
    if db is None and settings.index.db is None and not (settings.data_dir / "index.sqlite").exists():
        err.print(f"[red]error:[/red] no index at {settings.data_dir / 'index.sqlite'}; give --db")
        raise typer.Exit(2)
    if db is not None and "://" not in db and not Path(db).expanduser().is_file():
        err.print(f"[red]error:[/red] {db}: no such index file")
        raise typer.Exit(2)
    index = _open(settings, db, err)
    try:
        hits = index.search(query, mode=chosen, k=k)
    finally:
        index.close()
    for n, hit in enumerate(hits, start=1):
        if as_json:
            typer.echo(json.dumps(hit.model_dump(), ensure_ascii=False))
            continue
        typer.echo(f"{n}. {hit.source}  page {hit.page}  score {hit.score:.4f}  {hit.tier}")
        if hit.headings:
            typer.echo(f"   {' › '.join(hit.headings)}")
        typer.echo(f"   {hit.snippet}")
    if not hits:
        err.print("no hits")
