"""Scoring one system output against one row's ground truth, with the source's own convention.

Ground truth is loaded (and normalised) once per row and then scored against any number of system
outputs, so adding a system never touches this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tierocr.evaluation.corpus import GroundTruthFormat, ManifestRow, Metric
from tierocr.evaluation.metrics import character_error_rate, normalized_edit_distance, word_bag_scores
from tierocr.evaluation.normalize import normalize_for_ned
from tierocr.evaluation.olmocr import OlmTest, load_tests, run_tests, skip_reason
from tierocr.evaluation.tables import Table, find_tables, parse_html_tables
from tierocr.evaluation.teds import best_teds


@dataclass(frozen=True, slots=True)
class Scored:
    """A primary score (None when not applicable, e.g. TEDS without an output table) plus details."""

    score: float | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroundTruth:
    row: ManifestRow
    text: str = ""  # normalised reference text (md/txt rows)
    tables: tuple[Table, ...] = ()  # reference tables (html rows, and tables inside md references)
    tests: tuple[OlmTest, ...] = ()  # olmOCR unit tests (json rows)

    @property
    def scorable_tests(self) -> int:
        """Tests that count towards the pass rate (what a failed run is charged with)."""
        return sum(1 for test in self.tests if skip_reason(test) is None)

    def score(self, markdown: str) -> Scored:
        metric = self.row.metric
        if metric is Metric.NED:
            return self._score_text(markdown)
        if metric is Metric.OLMOCR:
            return self._score_tests(markdown)
        return self._score_table(markdown)

    def _score_text(self, markdown: str) -> Scored:
        output = normalize_for_ned(markdown)
        if self.text and not any(ch.islower() for ch in self.text) and any(ch.isupper() for ch in self.text):
            # An all-capitals reference is a transcription convention (SROIE's receipts), not what the
            # page shows: compare without case, as that source's own scoring does.
            output = output.upper()
        words = word_bag_scores(self.text, output)
        details: dict[str, Any] = {
            "cer": character_error_rate(self.text, output),
            "word_f1": words.f1,
            "reference_chars": len(self.text),
            "output_chars": len(output),
        }
        if self.tables:
            details["tables_teds"] = tables_teds(self.tables, find_tables(markdown))
        return Scored(normalized_edit_distance(self.text, output), details)

    def _score_tests(self, markdown: str) -> Scored:
        outcomes = run_tests(self.tests, markdown)
        counted = [o for o in outcomes if o.passed is not None]
        passed = sum(1 for o in counted if o.passed)
        details: dict[str, Any] = {
            "passed": passed,
            "counted": len(counted),
            "skipped": len(outcomes) - len(counted),
            "by_type": _by_type(counted),
            "failures": [{"id": o.id, "type": o.type, "reason": o.reason} for o in counted if not o.passed],
        }
        return Scored(passed / len(counted) if counted else None, details)

    def _score_table(self, markdown: str) -> Scored:
        if not self.tables:
            return Scored(None, {"error": "reference has no table"})
        candidates = find_tables(markdown)
        best = best_teds(self.tables[0], candidates)
        if best is None:
            return Scored(None, {"tables_found": 0, "teds_s": None})
        return Scored(best.teds, {"tables_found": len(candidates), "teds_s": best.teds_structure})


def _by_type(outcomes: list[Any]) -> dict[str, list[int]]:
    """Per test type: [passed, counted]."""
    tally: dict[str, list[int]] = {}
    for outcome in outcomes:
        entry = tally.setdefault(outcome.type, [0, 0])
        entry[0] += int(bool(outcome.passed))
        entry[1] += 1
    return tally


def tables_teds(reference: tuple[Table, ...], output: list[Table]) -> float:
    """Mean over reference tables of the best-matching output table's TEDS (0 when none matches)."""
    scores = []
    for table in reference:
        best = best_teds(table, output)
        scores.append(best.teds if best is not None else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def load_groundtruth(row: ManifestRow) -> GroundTruth:
    """Read and prepare a row's reference; raises if the file is missing or unreadable."""
    fmt = row.groundtruth_format
    if fmt is GroundTruthFormat.JSON:
        return GroundTruth(row=row, tests=tuple(load_tests(row.groundtruth_file)))
    raw = row.groundtruth_file.read_text(encoding="utf-8")
    if fmt is GroundTruthFormat.HTML:
        tables = tuple(parse_html_tables(raw))
        if not tables:
            raise ValueError(f"{row.groundtruth_file}: no <table> in the reference")
        return GroundTruth(row=row, tables=tables)
    return GroundTruth(row=row, text=normalize_for_ned(raw), tables=tuple(find_tables(raw)))
