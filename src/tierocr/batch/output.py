"""A document's header when it is first opened, and its outputs assembled from its checkpointed pages.

The header comes from the pipeline's own page stream (opened, never iterated), so a batch document's
JSON has the metadata `tierocr parse` writes; the outputs are written by `tierocr parse`'s own writer
(whole or not at all), so a batch output is byte for byte the one parse would write for the same pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierocr.batch.store import PageStore
from tierocr.config import Settings
from tierocr.document import Document
from tierocr.parse_command import OutputFormat, write_outputs


def open_header(pipeline: Any, source: Path, name: str, pages: str | None) -> tuple[Document, list[int]]:
    """The document's header (no pages) and its selected page numbers; input errors raise here."""
    with pipeline.iter_pages(source, name=name, pages=pages) as stream:
        header: Document = stream.document
    selected = header.metadata.get("pages_selected")
    if not isinstance(selected, list):
        selected = list(range(1, header.page_count + 1))
    return header, [int(n) for n in selected]


def assemble(store: PageStore, doc_id: str, settings: Settings) -> Document:
    """The whole document from its header and its page rows, in page order."""
    header = store.header(doc_id)
    if header is None:
        raise ValueError(f"document {doc_id} was never opened")
    pages = list(store.page_results(doc_id, float(settings.input.dpi)))
    return header.model_copy(update={"pages": pages})


def write_document(
    doc: Document, output: Path, stem: str, fmt: str, settings: Settings, chunks: bool
) -> list[Path]:
    """Write the outputs under ``output``; ``stem`` may hold folders (the input's own, mirrored)."""
    target = output / stem
    return write_outputs(doc, target.parent, target.name, OutputFormat(fmt), settings, chunks)
