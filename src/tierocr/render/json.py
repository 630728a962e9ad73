"""JSON: the Document schema as is, so it round-trips losslessly through ``Document.from_json``."""

from __future__ import annotations

from tierocr.document import Document


def render_json(doc: Document, indent: int | None = 2) -> str:
    return doc.to_json(indent=indent)
