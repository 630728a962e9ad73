"""A document's header when it is first opened, and its outputs assembled from its checkpointed pages.

The header holds the metadata `tierocr parse` writes, and the outputs are written by parse's own
writer (whole or not at all), so a batch output is byte for byte what parse writes for those pages.
"""

from __future__ import annotations

from pathlib import Path

from tierocr.batch.store import PageStore
from tierocr.config import InputSettings, Settings
from tierocr.document import Document
from tierocr.engines.device import planned_compute
from tierocr.inputs import open_document
from tierocr.parallel import document_header
from tierocr.parse_command import OutputFormat, write_outputs


def open_header(
    settings: InputSettings, source: Path, name: str, pages: str | None
) -> tuple[Document, list[int]]:
    """The document's header (no pages) and its selected page numbers; input errors raise here."""
    with open_document(source, settings, name=name, pages=pages) as loaded:
        return document_header(loaded), list(loaded.selected)


def assemble(store: PageStore, doc_id: str, settings: Settings) -> Document:
    """The whole document from its header and its page rows, in page order."""
    header = store.header(doc_id)
    if header is None:
        raise ValueError(f"document {doc_id} was never opened")
    pages = list(store.page_results(doc_id, float(settings.input.dpi)))
    # Where the models were configured to run, as `tierocr parse` reports it (the workers' own answer on
    # a card that fell back is not collected here).
    metadata = {**header.metadata, "compute": planned_compute(settings)}
    return header.model_copy(update={"pages": pages, "metadata": metadata})


def write_document(
    doc: Document, output: Path, stem: str, fmt: str, settings: Settings, chunks: bool
) -> list[Path]:
    """Write the outputs under ``output``; ``stem`` may hold folders (the input's own, mirrored)."""
    target = output / stem
    return write_outputs(doc, target.parent, target.name, OutputFormat(fmt), settings, chunks)
