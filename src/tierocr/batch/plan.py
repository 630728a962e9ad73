"""What a batch run is: its inputs, where its store and outputs live, and the settings it was started with.

A run is named by its output folder, so the same command started again is the same run and resumes.
Each input gets a stable id (from the run and the file's absolute path) and an output path (its path
under the input folder, mirrored under the output folder), fixed when it is first queued.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tierocr.batch.records import NewDocument
from tierocr.config import Settings
from tierocr.errors import TierOcrError
from tierocr.inputs import DOCUMENT_SUFFIXES, expand_inputs

#: The store's folder inside the output folder (default store, run locks).
STATE_DIR = ".tierocr"

#: Settings that change what a page reads as; a run resumed with other values would mix two results.
_RESULT_FIELDS: dict[str, set[str] | None] = {
    "input": {"dpi", "max_page_side"},
    "text_layer": None,
    "ocr": None,
    "layout": None,
    "gate": None,
    "render": None,
    "vlm": {"model", "profile", "escalate"},
}
_NOT_RESULTS = {"ocr": {"threads", "tessdata_dir"}}


class BatchInputError(TierOcrError):
    """The batch's input cannot be listed; the message names it and says why."""


def run_id(output: Path) -> str:
    return hashlib.sha256(str(output.resolve()).encode()).hexdigest()[:16]


def default_db(output: Path) -> str:
    return str(output / STATE_DIR / "batch.sqlite3")


def fingerprint(settings: Settings) -> dict[str, str]:
    """A hash per settings section that changes page results (secrets and thread counts left out)."""
    out: dict[str, str] = {}
    for section, keep in _RESULT_FIELDS.items():
        values = getattr(settings, section).model_dump(mode="json")
        values = {k: v for k, v in values.items() if (keep is None or k in keep)}
        for key in _NOT_RESULTS.get(section, set()):
            values.pop(key, None)
        out[section] = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
    return out


def changed_sections(stored: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))


def list_inputs(source: Path) -> tuple[list[Path], Path | None]:
    """The documents of a batch and the folder their output paths are relative to (None: flat names).

    ``source`` is a folder (searched recursively), one document, or a list file: one path per line,
    relative to the list file's folder, blank lines and ``#`` comments ignored.
    """
    if not source.exists():
        raise BatchInputError(f"{source}: no such file or folder")
    if source.is_dir():
        return expand_inputs([source]), source
    if source.suffix.lower() in DOCUMENT_SUFFIXES:
        return [source], None
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"{source}: cannot read the list of inputs: {exc}") from exc
    files: list[Path] = []
    for n, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry).expanduser()
        if not path.is_absolute():
            path = source.parent / path
        if not path.is_file():
            raise BatchInputError(f"{source}, line {n}: {entry}: no such file")
        files.append(path)
    return files, None


def _clean(part: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in part) or "document"


def document_id(rid: str, path: Path) -> str:
    return hashlib.sha256(f"{rid}\0{path.resolve()}".encode()).hexdigest()[:32]


def new_documents(
    rid: str, files: list[Path], base: Path | None, known: dict[str, str], options: dict[str, Any]
) -> list[NewDocument]:
    """Queue entries for the ``files`` not yet in ``known`` (id → output path of the documents queued
    before), each with an output path no other document of the run has."""
    out: list[NewDocument] = []
    taken = set(known.values())
    seen = set(known)
    position = len(known)
    for path in files:
        doc_id = document_id(rid, path)
        if doc_id in seen:
            continue
        seen.add(doc_id)
        absolute = path.resolve()
        if base is not None:
            relative = path.relative_to(base).with_suffix("")
            stem = "/".join(_clean(part) for part in relative.parts)
        else:
            stem = _clean(path.stem)
        candidate, n = stem, 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        out.append(NewDocument(doc_id, str(absolute), str(path), options, position, candidate))
        position += 1
    return out
