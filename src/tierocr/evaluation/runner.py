"""Running systems over the corpus and scoring what they produce.

One document's failure (a crash in a system, an unreadable reference) is recorded in its row and the
run goes on: an evaluation that stops at the first broken page tells nothing about the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierocr.config import Settings
from tierocr.document import Document
from tierocr.evaluation.corpus import ManifestRow, read_manifest, select_rows
from tierocr.evaluation.models import EvalReport, RowResult, SystemResult
from tierocr.evaluation.scoring import GroundTruth, load_groundtruth
from tierocr.evaluation.summary import summarize
from tierocr.evaluation.systems import SystemFn, system_name

#: Called after each document with its row result, so a front end can show progress.
ProgressFn = Callable[[RowResult], None]


def _tiers(document: Document | None) -> list[str]:
    if document is None:
        return []
    seen: list[str] = []
    for page in document.pages:
        if str(page.tier) not in seen:
            seen.append(str(page.tier))
    return seen


_SECRET_HINTS = ("key", "password", "token", "secret")


def _redact(value: Any) -> Any:
    """Settings as recorded in report.json: anything that looks like a credential is left out."""
    if isinstance(value, dict):
        return {
            k: ("<redacted>" if any(h in k.lower() for h in _SECRET_HINTS) and v else _redact(v))
            for k, v in value.items()
        }
    return value


def _settings_record(settings: Settings) -> dict[str, Any]:
    return _redact(settings.model_dump(mode="json", exclude={"data_dir"}))


def _valid_unicode(text: str) -> tuple[str, bool]:
    """The text as valid Unicode, and whether it had to be repaired.

    A system that leaks UTF-16 surrogates (e.g. astral characters split by a PDF library) produces a
    string that cannot be written or compared reliably; surrogate pairs are joined, lone ones become
    U+FFFD, and the row says so, so the defect is visible rather than a crash.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), True
    return text, False


def _describe(exc: BaseException) -> str:
    return _valid_unicode(f"{type(exc).__name__}: {exc}")[0]


def run_system(system: SystemFn, row: ManifestRow, groundtruth: GroundTruth) -> tuple[SystemResult, str]:
    """Run one system on one document and score it; returns the result and the raw Markdown."""
    start = time.perf_counter()
    try:
        markdown, document = system(row.file, None)
    except Exception as exc:  # a system's failure is data for the report, not a reason to stop
        seconds = time.perf_counter() - start
        details = {"counted": groundtruth.scorable_tests} if groundtruth.tests else {}
        return SystemResult(error=_describe(exc), seconds=seconds, pages=row.pages, details=details), ""
    seconds = time.perf_counter() - start
    markdown, repaired = _valid_unicode(markdown)
    pages = len(document.pages) if document is not None and document.pages else row.pages
    result = SystemResult(seconds=seconds, pages=pages, tiers=_tiers(document))
    page_errors = [
        f"page {page.number} {error.stage}: {error.message}"
        for page in (document.pages if document is not None else [])
        for error in page.errors
    ]
    try:
        scored = groundtruth.score(markdown)
    except Exception as exc:  # a scorer bug on odd output must not hide the other rows either
        details = {"counted": groundtruth.scorable_tests} if groundtruth.tests else {}
        return result.model_copy(
            update={"error": f"scoring failed: {_describe(exc)}", "details": details}
        ), markdown
    details = {**scored.details, **({"page_errors": page_errors} if page_errors else {})}
    if repaired:
        details["invalid_unicode"] = "output held UTF-16 surrogates; pairs joined, lone ones replaced"
    return result.model_copy(update={"score": scored.score, "details": details}), markdown


def _row_result(row: ManifestRow) -> RowResult:
    return RowResult(
        id=row.id,
        source=row.source,
        kind=row.kind,
        content=row.content,
        language=row.language,
        groundtruth_format=str(row.groundtruth_format),
        metric=row.metric,
        pages=row.pages,
    )


def evaluate_rows(
    rows: Sequence[ManifestRow],
    systems: Sequence[SystemFn],
    *,
    outputs_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> list[RowResult]:
    """Every system on every row; the Markdown of each run is kept under ``outputs_dir/<system>/``."""
    names = [system_name(s) for s in systems]
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {names}")
    results: list[RowResult] = []
    for row in rows:
        row_result = _row_result(row)
        try:
            groundtruth = load_groundtruth(row)
        except (OSError, ValueError) as exc:
            row_result.error = f"ground truth: {_describe(exc)}"
        else:
            for name, system in zip(names, systems, strict=True):
                result, markdown = run_system(system, row, groundtruth)
                row_result.results[name] = result
                if outputs_dir is not None and result.error is None:
                    target = outputs_dir / name / f"{row.id}.md"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(markdown, encoding="utf-8")
        results.append(row_result)
        if progress is not None:
            progress(row_result)
    return results


def evaluate_corpus(
    corpus_dir: Path,
    settings: Settings,
    systems: Sequence[SystemFn],
    *,
    only: str | None = None,
    limit: int | None = None,
    outputs_dir: Path | None = None,
    progress: ProgressFn | None = None,
    rows: Sequence[ManifestRow] | None = None,
) -> EvalReport:
    """Score ``systems`` on the corpus's manifest rows (filtered by id substring and count).

    Pass ``rows`` to reuse an already read (and filtered) manifest, e.g. to size a progress bar.
    """
    if rows is None:
        rows = select_rows(read_manifest(corpus_dir), only=only, limit=limit)
    row_results = evaluate_rows(rows, systems, outputs_dir=outputs_dir, progress=progress)
    names = [system_name(s) for s in systems]
    return EvalReport(
        corpus=str(corpus_dir),
        systems=names,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        bad_ned_threshold=settings.eval.bad_ned_threshold,
        settings=_settings_record(settings),
        rows=row_results,
        summary=summarize(row_results, names, settings.eval.bad_ned_threshold),
    )
