"""The dev corpus parsed once, for the retrieval check: Document JSON cached by file hash.

Parsing the corpus costs minutes of CPU; the search evaluation compares search modes and models over
the same parse, so each document is parsed once per (file content, settings) and read back afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from tierocr.config import Settings
from tierocr.document import Document
from tierocr.evaluation.corpus import ManifestRow
from tierocr.index.service import parse_fingerprint


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_corpus(
    rows: list[ManifestRow],
    settings: Settings,
    cache_dir: Path,
    progress: Callable[[ManifestRow, bool], None] | None = None,
) -> dict[str, Document]:
    """Each row's Document, from ``cache_dir`` when this file was parsed with these settings before."""
    from tierocr.evaluation.cli import build_systems

    system = build_systems(settings, rows, baseline=False, layout=False, row_languages=True)[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = parse_fingerprint(settings)
    documents: dict[str, Document] = {}
    for row in rows:
        cached = cache_dir / f"{row.id}.{file_digest(row.file)[:12]}.{tag}.json"
        hit = cached.is_file()
        if hit:
            documents[row.id] = Document.from_json(cached.read_bytes())
        else:
            _, document = system(row.file, None)
            assert document is not None
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(document.to_json(indent=None), encoding="utf-8")
            tmp.replace(cached)
            documents[row.id] = document
        if progress is not None:
            progress(row, hit)
    return documents
