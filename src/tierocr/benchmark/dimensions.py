"""`tierocr compare`'s dimensions: the corpus cut the way a buyer of OCR asks, plus two extra scores.

Text, tables and handwriting reuse `tierocr eval`'s pooled metrics on a subset of rows (the same NED,
olmOCR pass rate and TEDS). Two questions the eval's metrics do not answer get their own score here:

- digits and identifiers: the share of the reference's number-like tokens (dates, amounts, ID numbers:
  runs holding at least two digits, with their separators) that the output contains verbatim. An edit
  distance forgives one wrong digit in an IBAN; a reader does not.
- LaTeX formulas: each reference formula (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]`` in Markdown
  references, ``math`` tests of olmOCR-bench) against the most similar formula of the output, as
  1 - NED of the whitespace-free LaTeX; an output without LaTeX scores 0 for it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from tierocr.benchmark.models import BenchReport
from tierocr.evaluation.corpus import GroundTruthFormat, ManifestRow, Metric
from tierocr.evaluation.metrics import normalized_edit_distance
from tierocr.evaluation.models import RowResult
from tierocr.evaluation.normalize import fold_characters, normalize_for_ned
from tierocr.evaluation.report import format_aggregate
from tierocr.evaluation.scoring import GroundTruth, load_groundtruth
from tierocr.evaluation.summary import summarize

_MATH = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$(?!\s*\$)(.+?)(?<![\\])\$", re.DOTALL
)
_NUMBER = re.compile(r"(?:[A-Za-z]+[-/])*[A-Za-z0-9]*\d[A-Za-z0-9.,:/\-]*")
_LATEX_MARK = re.compile(r"[\\^_{}=]")
_WORD = re.compile(r"[A-Za-z]{3,}")
_LATEX_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|\s+")
_TEXT_KINDS = frozenset({"text", "scanned", "mixed"})


def _is_math(match: re.Match[str]) -> bool:
    """Display math always; inline ``$…$`` only when it reads as maths rather than two dollar amounts
    (``$ 176 $ 141`` in a financial table, ``$5 million and $7``, ``$ 10 or $ 20``): within one line, and
    a LaTeX mark or a short formula of single letters that does not start with a digit (``$ x + y $``)."""
    body = match.group(4)
    if body is None:
        return True
    if "\n" in body:
        return False
    if _LATEX_MARK.search(body):
        return True
    text = body.strip()
    return (
        any(ch.isalpha() for ch in text)
        and not text[:1].isdigit()
        and not _WORD.search(text)
        and len(text) <= 40
    )


def math_segments(markdown: str) -> list[str]:
    """The LaTeX between math delimiters, in order."""
    return [
        next(g for g in m.groups() if g is not None).strip() for m in _MATH.finditer(markdown) if _is_math(m)
    ]


def without_math(markdown: str) -> str:
    return _MATH.sub(lambda m: " " if _is_math(m) else m.group(0), markdown)


def number_tokens(text: str) -> Counter[str]:
    """Number-like tokens (two digits or more) of an already readable text, trailing punctuation cut."""
    tokens: Counter[str] = Counter()
    for match in _NUMBER.finditer(fold_characters(text)):
        token = match.group(0).rstrip(".,:/-")
        if sum(ch.isdigit() for ch in token) >= 2:
            tokens[token] += 1
    return tokens


def _latex_key(latex: str) -> str:
    return _LATEX_SPACING.sub("", latex)


def formula_similarity(reference: list[str], output: list[str]) -> list[float]:
    """Per reference formula, 1 - NED against its most similar output formula (0 with none)."""
    keys = [_latex_key(o) for o in output if o.strip()]
    scores = []
    for formula in reference:
        ref = _latex_key(formula)
        scores.append(max((1.0 - normalized_edit_distance(ref, k) for k in keys), default=0.0))
    return scores


def reference_text(row: ManifestRow, groundtruth: GroundTruth) -> str:
    """What the reference says is printed, formulas left out: its text, its tables' cells, or the
    snippets its olmOCR tests look for."""
    if row.groundtruth_format in (GroundTruthFormat.MD, GroundTruthFormat.TXT):
        raw = row.groundtruth_file.read_text(encoding="utf-8")
        return normalize_for_ned(without_math(raw))
    if groundtruth.tables:
        return " ".join(cell.text for table in groundtruth.tables for cells in table.rows for cell in cells)
    snippets: list[str] = []
    for test in groundtruth.tests:
        if test.type == "present":
            snippets.append(test.text)
        elif test.type == "order":
            snippets += [test.before, test.after]
        elif test.type == "table":
            snippets.append(test.cell)
    return " ".join(snippets)


def reference_formulas(row: ManifestRow, groundtruth: GroundTruth) -> list[str]:
    if row.groundtruth_format is GroundTruthFormat.JSON:
        return [t.math for t in groundtruth.tests if t.type == "math" and t.math.strip()]
    if row.groundtruth_format in (GroundTruthFormat.MD, GroundTruthFormat.TXT):
        return [f for f in math_segments(row.groundtruth_file.read_text(encoding="utf-8")) if f]
    return []


@dataclass
class Line:
    """One measure of one dimension, each target's value and how to read it."""

    dimension: str
    measure: str
    count: str
    values: dict[str, float | None]
    higher_is_better: bool
    shown: dict[str, str] = field(default_factory=dict)
    digits: int = 3

    def cell(self, name: str) -> str:
        if name in self.shown:
            return self.shown[name]
        value = self.values.get(name)
        return "n/a" if value is None else f"{value:.{self.digits}f}"

    def better(self, names: list[str]) -> str:
        known = {n: v for n, v in self.values.items() if n in names and v is not None}
        if len(known) < 2:
            return ""
        best = max(known.values()) if self.higher_is_better else min(known.values())
        winners = [n for n, v in known.items() if abs(v - best) < 1e-9]
        return "tie" if len(winners) > 1 else winners[0]


_MEASURE = MappingProxyType(
    {
        Metric.NED: ("mean NED", False),
        Metric.OLMOCR: ("olmOCR pass rate", True),
        Metric.TEDS: ("mean TEDS", True),
    }
)


def _metric_lines(dimension: str, rows: list[RowResult], names: list[str], threshold: float) -> list[Line]:
    if not rows:  # said, not left out: a reader should see the dimension was looked for
        return [Line(dimension, "no documents of this kind in the corpus", "0 docs", {}, True)]
    lines = []
    for group in summarize(rows, names, threshold):
        if group.group != "overall":
            continue
        measure, higher = _MEASURE[group.metric]
        aggregates = group.systems
        count = (
            f"{aggregates[names[0]].rows} tests"
            if group.metric is Metric.OLMOCR
            else f"{sum(1 for r in rows if r.metric is group.metric)} docs"
        )
        lines.append(
            Line(
                dimension,
                measure,
                count,
                {n: aggregates[n].value for n in names},
                higher,
                {n: format_aggregate(group.metric, aggregates[n]) for n in names},
            )
        )
    return lines


def _languages(row: RowResult) -> set[str]:
    return {code.strip() for code in row.language.split(",") if code.strip()}


def _subset(rows: list[RowResult], keep: Callable[[RowResult], bool]) -> list[RowResult]:
    return [r for r in rows if r.error is None and keep(r)]


def _read_output(outputs_dir: Path, name: str, row_id: str) -> str:
    path = outputs_dir / name / f"{row_id}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _extra_lines(
    report: BenchReport, manifest: list[ManifestRow], outputs_dir: Path, names: list[str]
) -> tuple[Line, Line, Line, Line]:
    """Digits (recall and precision), LaTeX similarity and TEDS of tables inside Markdown references."""
    found = dict.fromkeys(names, 0)
    emitted = dict.fromkeys(names, 0)
    correct = dict.fromkeys(names, 0)
    reference_total = 0
    formulas: dict[str, list[float]] = {n: [] for n in names}
    md_teds: dict[str, list[float]] = {n: [] for n in names}
    by_id = {r.id: r for r in report.rows if r.error is None}
    for row in manifest:
        result = by_id.get(row.id)
        if result is None:
            continue
        groundtruth = load_groundtruth(row)
        wanted = number_tokens(reference_text(row, groundtruth))
        reference_total += sum(wanted.values())
        wanted_formulas = reference_formulas(row, groundtruth)
        for name in names:
            output = _read_output(outputs_dir, name, row.id)
            got = number_tokens(normalize_for_ned(without_math(output)))
            found[name] += sum((wanted & got).values())
            emitted[name] += sum(got.values())
            correct[name] += sum((got & wanted).values())
            formulas[name] += formula_similarity(wanted_formulas, math_segments(output))
            system = result.results.get(name)
            if groundtruth.tables and groundtruth.text:
                value = system.details.get("tables_teds") if system and system.error is None else None
                md_teds[name].append(float(value or 0.0))
    tokens = f"{reference_total} tokens"
    recall = Line(
        "Digits and identifiers",
        "number tokens found verbatim (recall)",
        tokens,
        {n: found[n] / reference_total if reference_total else None for n in names},
        True,
    )
    precision = Line(
        "Digits and identifiers",
        "output number tokens in the reference (precision)",
        tokens,
        {n: correct[n] / emitted[n] if emitted[n] else None for n in names},
        True,
    )
    counted = len(next(iter(formulas.values()), []))
    latex = Line(
        "LaTeX formulas",
        "formula similarity (1 - NED of LaTeX, none = 0)",
        f"{counted} formulas",
        {n: sum(v) / len(v) if v else None for n, v in formulas.items()},
        True,
    )
    teds_count = len(next(iter(md_teds.values()), []))
    tables = Line(
        "Tables",
        "TEDS of tables inside Markdown references",
        f"{teds_count} docs",
        {n: sum(v) / len(v) if v else None for n, v in md_teds.items()},
        True,
    )
    return recall, precision, latex, tables


def _table_tests(rows: list[RowResult], names: list[str]) -> Line | None:
    passed = dict.fromkeys(names, 0)
    counted = 0
    for row in rows:
        if row.metric is not Metric.OLMOCR:
            continue
        first = row.results.get(names[0])
        tally = first.details.get("by_type", {}).get("table") if first else None
        if not tally:
            continue
        counted += int(tally[1])
        for name in names:
            result = row.results.get(name)
            mine = result.details.get("by_type", {}).get("table") if result and result.error is None else None
            passed[name] += int(mine[0]) if mine else 0
    if not counted:
        return None
    values: dict[str, float | None] = {n: passed[n] / counted for n in names}
    return Line("Tables", "olmOCR table tests pass rate", f"{counted} tests", values, True)


def speed_lines(report: BenchReport, concurrency: int) -> list[Line]:
    targets = report.targets

    def line(measure: str, values: dict[str, float | None], higher: bool, digits: int = 2) -> Line:
        return Line("Speed", measure, "", values, higher, digits=digits)

    return [
        line("cold start (s)", {t.name: t.cold_start_s for t in targets}, False),
        line(
            "warm latency, median (s)",
            {t.name: t.warm.median_s if t.warm else None for t in targets},
            False,
            3,
        ),
        line("warm latency, p95 (s)", {t.name: t.warm.p95_s if t.warm else None for t in targets}, False, 3),
        line(
            f"images/s at {concurrency} concurrent",
            {t.name: p.images_per_s if (p := t.throughput_at(concurrency)) else None for t in targets},
            True,
        ),
        line(
            "corpus pages/s (warm, one document at a time)",
            {t.name: t.corpus_pages_per_s for t in targets},
            True,
        ),
    ]


def dimension_lines(
    report: BenchReport, manifest: list[ManifestRow], outputs_dir: Path, concurrency: int
) -> list[Line]:
    """Every line of the comparison, dimension by dimension, accuracy first and speed last."""
    names = report.names
    rows, threshold = report.rows, report.bad_ned_threshold
    recall, precision, latex, md_tables = _extra_lines(report, manifest, outputs_dir, names)
    lines: list[Line] = []
    lines += _metric_lines(
        "Chinese text",
        _subset(rows, lambda r: "zh" in _languages(r) and r.content in _TEXT_KINDS),
        names,
        threshold,
    )
    lines += _metric_lines(
        "English text",
        _subset(rows, lambda r: "en" in _languages(r) and r.content in _TEXT_KINDS),
        names,
        threshold,
    )
    lines += _metric_lines(
        "LaTeX formulas", _subset(rows, lambda r: r.content == "formula"), names, threshold
    )
    lines.append(latex)
    lines += _metric_lines("Tables", _subset(rows, lambda r: r.content == "table"), names, threshold)
    lines.append(md_tables)
    table_tests = _table_tests(_subset(rows, lambda r: True), names)
    if table_tests is not None:
        lines.append(table_tests)
    lines += [recall, precision]
    lines += _metric_lines(
        "Handwriting", _subset(rows, lambda r: r.content == "handwriting"), names, threshold
    )
    lines += speed_lines(report, concurrency)
    return lines
