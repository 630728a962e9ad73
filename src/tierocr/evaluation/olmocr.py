"""olmOCR-bench unit tests (present / absent / order / table) run against a system's Markdown.

The conventions follow the benchmark's own scoring so that pass rates are comparable: both sides are
NFC-normalised with typographic quotes and dashes folded to ASCII and Markdown emphasis ignored;
``present``/``absent`` use rapidfuzz ``partial_ratio`` against the threshold ``1 - max_diffs/len(text)``
(so max_diffs=0 means an exact substring), optionally only within the first/last N characters;
``order`` finds both snippets with fuzzysearch at ``max_l_dist = max_diffs``; ``table`` looks for the
cell in any HTML or Markdown table of the output and checks its neighbours and headings with
``fuzz.ratio`` at a threshold of at least 0.5. ``math`` tests need a LaTeX renderer and are reported
as skipped, as are tests marked rejected and types this scorer does not know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fuzzysearch import find_near_matches
from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz

from tierocr.evaluation.normalize import fold_characters
from tierocr.evaluation.tables import Cell, Table, find_tables

#: Types scored here; the rest are skipped with a reason.
SCORED_TYPES = frozenset({"present", "absent", "order", "table"})
#: Types olmOCR-bench defines that this scorer recognises but does not score.
SKIPPED_TYPES = frozenset({"math", "baseline", "format", "footnote"})

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_INLINE_TAG = re.compile(r"</?(?:b|i|strong|em)>", re.IGNORECASE)
_BOLD = re.compile(r"(\*\*|__)(.*?)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.*?)(?<!\s)\*(?![*\w])|(?<![_\w])_(?!\s)(.*?)(?<!\s)_(?![_\w])")
_WS = re.compile(r"\s+")


def _italic_text(match: re.Match[str]) -> str:
    return match.group(1) if match.group(1) is not None else match.group(2)


def olmocr_normalize(text: str) -> str:
    """olmOCR-bench's view of a text: no emphasis markup, one space between words, ASCII quotes/dashes."""
    text = _BREAK.sub(" ", text)
    text = _INLINE_TAG.sub("", text)
    text = _BOLD.sub(r"\2", text)
    text = _ITALIC.sub(_italic_text, text)
    text = _WS.sub(" ", text)
    return fold_characters(text)


class OlmTest(BaseModel):
    """One line of a ``*.tests.jsonl`` file; fields a type does not use stay at their defaults."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str
    pdf: str = ""
    page: int = 1
    max_diffs: int = 0
    checked: str | None = None
    case_sensitive: bool = True
    text: str = ""
    first_n: int | None = None
    last_n: int | None = None
    before: str = ""
    after: str = ""
    cell: str = ""
    up: str = ""
    down: str = ""
    left: str = ""
    right: str = ""
    top_heading: str = ""
    left_heading: str = ""
    ignore_markdown_tables: bool = False
    math: str = ""


@dataclass(frozen=True, slots=True)
class TestOutcome:
    id: str
    type: str
    passed: bool | None  # None: skipped, not counted
    reason: str = ""


def load_tests(path: Path) -> list[OlmTest]:
    tests = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                tests.append(OlmTest.model_validate(json.loads(line)))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not an olmOCR test: {exc}") from exc
    return tests


def _fold_case(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.lower()


def _run_presence(test: OlmTest, content: str) -> tuple[bool, str]:
    query = _fold_case(olmocr_normalize(test.text), test.case_sensitive)
    content = _fold_case(content, test.case_sensitive)
    if test.first_n and test.last_n:
        content = content[: test.first_n] + content[-test.last_n :]
    elif test.first_n:
        content = content[: test.first_n]
    elif test.last_n:
        content = content[-test.last_n :]
    present = test.type == "present"
    if not query.strip():
        return False, "empty test text"
    # partial_ratio compares against the shorter string, so a near-empty output would "contain" anything.
    if len(content) < len(query) - test.max_diffs:
        return (not present), "output shorter than the snippet"
    threshold = 1.0 - test.max_diffs / len(query)
    ratio = fuzz.partial_ratio(query, content) / 100.0
    found = ratio >= threshold
    detail = f"best match {ratio:.3f} vs threshold {threshold:.3f}"
    return (found if present else not found), detail


def _run_order(test: OlmTest, content: str) -> tuple[bool, str]:
    before = _fold_case(olmocr_normalize(test.before), test.case_sensitive)
    after = _fold_case(olmocr_normalize(test.after), test.case_sensitive)
    content = _fold_case(content, test.case_sensitive)
    if not before.strip() or not after.strip():
        return False, "empty before/after text"
    befores = find_near_matches(before, content, max_l_dist=test.max_diffs)
    if not befores:
        return False, "'before' text not found"
    afters = find_near_matches(after, content, max_l_dist=test.max_diffs)
    if not afters:
        return False, "'after' text not found"
    if any(b.start < a.start for b in befores for a in afters):
        return True, ""
    return False, "'before' text does not precede 'after' text"


@dataclass(frozen=True, slots=True)
class _Grid:
    """A table with spans expanded: which cell covers each (row, column) position."""

    cells: tuple[Cell, ...]
    spans: tuple[tuple[range, range], ...]  # (rows, columns) each cell covers
    at: dict[tuple[int, int], int]
    header_rows: frozenset[int]

    @classmethod
    def build(cls, table: Table) -> _Grid:
        cells: list[Cell] = []
        spans: list[tuple[range, range]] = []
        at: dict[tuple[int, int], int] = {}
        header_rows: set[int] = set()
        for r, row in enumerate(table.rows):
            c = 0
            for cell in row:
                while (r, c) in at:
                    c += 1
                rows, cols = range(r, r + cell.rowspan), range(c, c + cell.colspan)
                index = len(cells)
                cells.append(cell)
                spans.append((rows, cols))
                for rr in rows:
                    for cc in cols:
                        at.setdefault((rr, cc), index)
                c += cell.colspan
            if row and all(cell.header for cell in row) and header_rows == set(range(r)):
                header_rows.add(r)
        return cls(tuple(cells), tuple(spans), at, frozenset(header_rows))

    def _neighbours(self, positions: Iterable[tuple[int, int]]) -> set[int]:
        return {self.at[p] for p in positions if p in self.at}

    def relation(self, index: int, name: str) -> set[int]:
        rows, cols = self.spans[index]
        if name == "up":
            found = self._neighbours((rows.start - 1, c) for c in cols)
        elif name == "down":
            found = self._neighbours((rows.stop, c) for c in cols)
        elif name == "left":
            found = self._neighbours((r, cols.start - 1) for r in rows)
        elif name == "right":
            found = self._neighbours((r, cols.stop) for r in rows)
        elif name == "top_heading":
            found = self._neighbours((h, c) for h in self.header_rows if h < rows.start for c in cols)
            if not found:  # no marked header: the first filled cell of each column
                found = {self._first_filled((r, c) for r in range(rows.start)) for c in cols} - {None}
        else:  # left_heading: the first filled cell of each row
            found = {self._first_filled((r, c) for c in range(cols.start)) for r in rows} - {None}
        found.discard(index)
        return found

    def _first_filled(self, positions: Iterable[tuple[int, int]]) -> int | None:
        for position in positions:
            index = self.at.get(position)
            if index is not None and self.cells[index].text.strip():
                return index
        return None


_RELATIONS = ("up", "down", "left", "right", "top_heading", "left_heading")


def _similar(expected: str, actual: str, max_diffs: int, case_sensitive: bool) -> bool:
    expected = _fold_case(expected, case_sensitive)
    actual = _fold_case(olmocr_normalize(actual), case_sensitive)
    threshold = max(0.5, 1.0 - max_diffs / max(1, len(expected)))
    return fuzz.ratio(expected, actual) / 100.0 >= threshold


def _run_table(test: OlmTest, content: str) -> tuple[bool, str]:
    tables = find_tables(content, markdown=not test.ignore_markdown_tables)
    if not tables:
        return False, "no table in the output"
    target = olmocr_normalize(test.cell)
    wanted = {name: olmocr_normalize(getattr(test, name)) for name in _RELATIONS if getattr(test, name)}
    cell_found = False
    for table in tables:
        grid = _Grid.build(table)
        for index, cell in enumerate(grid.cells):
            if not _similar(target, cell.text, test.max_diffs, test.case_sensitive):
                continue
            cell_found = True
            if all(
                any(
                    _similar(expected, grid.cells[other].text, test.max_diffs, test.case_sensitive)
                    for other in grid.relation(index, name)
                )
                for name, expected in wanted.items()
            ):
                return True, ""
    if cell_found:
        return False, "cell found but its neighbours do not match"
    return False, "cell not found in any table"


def skip_reason(test: OlmTest) -> str | None:
    """Why a test does not count towards the pass rate, or None when it does."""
    if test.checked == "rejected":
        return "test marked rejected"
    if test.type in SKIPPED_TYPES:
        return f"{test.type} tests are not scored"
    if test.type not in SCORED_TYPES:
        return f"unknown test type {test.type!r}"
    return None


def run_test(test: OlmTest, markdown: str, *, normalized: str | None = None) -> TestOutcome:
    """Run one test; ``normalized`` lets a caller normalise the output once for many tests."""
    reason = skip_reason(test)
    if reason is not None:
        return TestOutcome(test.id, test.type, None, reason)
    content = normalized if normalized is not None else olmocr_normalize(markdown)
    if test.type in ("present", "absent"):
        passed, reason = _run_presence(test, content)
    elif test.type == "order":
        passed, reason = _run_order(test, content)
    else:
        passed, reason = _run_table(test, markdown)
    return TestOutcome(test.id, test.type, passed, "" if passed else reason)


def run_tests(tests: Iterable[OlmTest], markdown: str) -> list[TestOutcome]:
    normalized = olmocr_normalize(markdown)
    return [run_test(test, markdown, normalized=normalized) for test in tests]
