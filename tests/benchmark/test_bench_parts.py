"""The pieces of bench and compare without any model: target grammar, statistics, the extra scores,
the diff page, the dimension table on fake systems, and bad input as one clear line."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierocr.benchmark.diff import highlight
from tierocr.benchmark.dimensions import (
    dimension_lines,
    formula_similarity,
    math_segments,
    number_tokens,
    without_math,
)
from tierocr.benchmark.measure import measure_target
from tierocr.benchmark.models import BenchPlan, BenchReport, LatencyStats, TargetResult
from tierocr.benchmark.targets import Target, TargetError, parse_targets
from tierocr.cli import app
from tierocr.config import BenchEndpoint, Settings
from tierocr.document import Document
from tierocr.evaluation.corpus import read_manifest
from tierocr.evaluation.runner import evaluate_rows


def test_target_grammar_covers_tiers_endpoints_and_named_endpoints() -> None:
    settings = Settings()
    settings.bench.targets["paddle"] = BenchEndpoint(url="http://gpu:8001/v1", profile="paddleocr-vl")
    specs = [
        "rapidocr",
        "tesseract",
        "tierocr",
        "tierocr   --no-layout",
        "vlm:http://127.0.0.1:8000/v1?profile=glm-ocr&model=zai-org/GLM-OCR&max_tokens=512",
        "paddle",
    ]
    targets = parse_targets(specs, settings)
    assert [t.name for t in targets] == [
        "rapidocr",
        "tesseract",
        "tierocr",
        "tierocr-no-layout",
        "glm-ocr@127.0.0.1-8000",
        "paddle",
    ]
    assert [t.kind for t in targets] == ["engine", "engine", "tierocr", "tierocr", "vlm", "vlm"]
    assert targets[3].pipeline_settings(settings).layout.enabled is False
    assert targets[2].pipeline_settings(settings) is settings
    vlm = targets[4].vlm_settings(settings)
    assert (vlm.url, vlm.profile, vlm.model, vlm.max_tokens) == (
        "http://127.0.0.1:8000/v1",
        "glm-ocr",
        "zai-org/GLM-OCR",
        512,
    )
    assert targets[5].vlm_settings(settings).profile == "paddleocr-vl"
    assert not targets[4].own_process and targets[0].own_process


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rapdocr", "did you mean 'rapidocr'"),
        ("vlm:ftp://host/v1", "expected vlm:http(s)://"),
        ("vlm:http://h:1/v1?profile=nope", "unknown profile 'nope'"),
        ("vlm:http://h:1/v1?profile=glm-ocr&max_tokens=0", "max_tokens must be"),
    ],
)
def test_a_bad_target_names_itself_and_the_choices(spec: str, message: str) -> None:
    with pytest.raises(TargetError, match=re.escape(message)):
        parse_targets([spec], Settings())


def test_the_same_target_twice_is_refused() -> None:
    with pytest.raises(TargetError, match="same target"):
        parse_targets(["tierocr --no-layout", "tierocr-no-layout"], Settings())


def test_latency_median_and_nearest_rank_p95() -> None:
    stats = LatencyStats.of([float(s) for s in range(20, 0, -1)])  # 1..20 s, in any order
    assert stats is not None
    assert (stats.median_s, stats.p95_s, stats.count) == (10.5, 19.0, 20)
    assert LatencyStats.of([]) is None


def test_number_tokens_are_dates_amounts_and_ids() -> None:
    tokens = number_tokens("Invoice INV-2024-117 dated 2024-03-15, total 1,250.00 EUR; page 3 of 7.")
    assert tokens == {"INV-2024-117": 1, "2024-03-15": 1, "1,250.00": 1}


def test_formulas_are_found_and_scored_by_similarity() -> None:
    text = "Area $A = \\pi r^2$ and $$E = m c^2$$ and \\(x\\)."
    assert math_segments(text) == ["A = \\pi r^2", "E = m c^2", "x"]
    assert formula_similarity(["A=\\pi r^2"], math_segments(text)) == [1.0]
    assert formula_similarity(["A=\\pi r^2"], []) == [0.0]
    assert 0 < formula_similarity(["A=\\pi r^3"], ["A=\\pi r^2"])[0] < 1
    assert math_segments("where $ x + y $ holds") == ["x + y"]


def test_dollar_amounts_are_not_formulas() -> None:
    amounts = ("Cost of revenue $ 176 $ 141 $ 138", "costs $5 million and revenue $7 million", "$ 10 or $ 20")
    for text in (*amounts, "$5\n$10\nF $20"):
        assert math_segments(text) == []
        assert without_math(text) == text
    assert number_tokens(without_math("Total $ 4,737 $ 3,549")) == {"4,737": 1, "3,549": 1}


def test_highlight_marks_each_side_and_escapes_markup() -> None:
    a, b = highlight("total 1,250.00 <b>", "total 1,260.00 <b>")
    assert '<span class="only-a">250</span>' in a and '<span class="only-b">260</span>' in b
    assert "&lt;b&gt;" in a and "<b>" not in a.replace('<span class="only-a">', "")
    a, b = highlight("one two\nthree", "one  two three")  # layout whitespace is kept, not marked
    assert (a, b) == ("one two\nthree", "one  two three")
    a, b = highlight("合同金额", "合同全额")  # CJK compared character by character
    assert '<span class="only-a">金</span>' in a and '<span class="only-b">全</span>' in b


def _fake(name: str, outputs: dict[str, str]):  # type: ignore[no-untyped-def]
    def system(path: Path, pages: str | None) -> tuple[str, Document | None]:
        return outputs[path.name], None

    system.__name__ = name
    return system


def test_dimensions_side_by_side_on_fake_systems(corpus: Path, tmp_path: Path) -> None:
    from bench_helpers import FORMULA, INVOICE, TABLE

    right = {
        "invoice.png": INVOICE,
        "table.png": TABLE,
        "report.pdf": "The report covers 2023 and 2024 in two short pages.\n\nPage two lists 42 items.",
        "formula.png": FORMULA,
    }
    wrong = {
        "invoice.png": INVOICE.replace("1,250.00", "1,260.00").replace("2024-117", "2024-111"),
        "table.png": "Item Price Paper 12.50",
        "report.pdf": "The report covers 2023 and 2O24.",
        "formula.png": "The area is A = pi r2 for a radius of 25 mm.",
    }
    manifest = read_manifest(corpus)
    outputs = tmp_path / "outputs"
    rows = evaluate_rows(manifest, [_fake("good", right), _fake("poor", wrong)], outputs_dir=outputs)
    results = [TargetResult(name=n, spec=n, kind="engine") for n in ("good", "poor")]
    results[0].cold_start_s, results[1].cold_start_s = 2.0, 1.0
    report = BenchReport(
        created="now",
        command="test",
        images=[],
        concurrency=[5],
        bad_ned_threshold=0.15,
        targets=results,
        rows=rows,
    )
    lines = {(ln.dimension, ln.measure): ln for ln in dimension_lines(report, manifest, outputs, 5)}
    recall = lines[("Digits and identifiers", "number tokens found verbatim (recall)")]
    # invoice 3 (ID, date, amount) + table cell 1 + report tests 3 + formula page 1 ("25"; r^2 is maths)
    assert recall.count == "8 tokens"
    assert recall.values == {"good": 1.0, "poor": 0.5}  # poor: one digit off is a miss, "2O24" too
    assert recall.better(["good", "poor"]) == "good"
    latex = lines[("LaTeX formulas", "formula similarity (1 - NED of LaTeX, none = 0)")]
    assert latex.count == "2 formulas"  # one in the Markdown reference, one math test
    assert latex.values["good"] is not None and latex.values["poor"] == 0.0
    assert lines[("Tables", "mean TEDS")].values == {"good": 1.0, "poor": 0.0}
    assert lines[("English text", "mean NED")].better(["good", "poor"]) == "good"
    assert lines[("Chinese text", "no documents of this kind in the corpus")].count == "0 docs"
    assert lines[("Speed", "cold start (s)")].better(["good", "poor"]) == "poor"  # lower is better


def test_a_target_whose_engine_fails_reports_failed_requests(images: Path) -> None:
    target = Target(name="broken", spec="broken", kind="engine", engine="no-such-engine")
    plan = BenchPlan(
        images=sorted(images.iterdir()), concurrency=[1, 2], warm_requests=2, throughput_min_requests=2
    )
    steps: list[str] = []
    result = measure_target(target, plan, Settings(), lambda label, n: steps.append(label))
    assert result.warm is None and result.cold_start_s is None
    assert [(p.concurrency, p.errors, p.images_per_s) for p in result.throughput] == [
        (1, 2, 0.0),
        (2, 4, 0.0),
    ]
    assert result.request_errors and "no-such-engine" in result.request_errors[0]
    assert len(steps) == plan.steps()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_endpoint_is_an_error_in_the_report(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    target = f"vlm:http://127.0.0.1:{_closed_port()}/v1?profile=glm-ocr"
    result = CliRunner().invoke(app, ["bench", target, "--images", str(images), "-o", str(out)])
    assert result.exit_code == 1
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Errors" in markdown and "cannot list models" in markdown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "rapdocr"], "unknown target 'rapdocr'"),
        (["bench", "rapidocr", "--concurrency", "1,x"], "--concurrency '1,x'"),
        (["bench", "rapidocr", "--concurrency", "0"], "at least 1"),
        (["compare", "rapidocr", "rapidocr", "--corpus", "{corpus}"], "same target"),
        (["bench", "rapidocr", "--images", "{empty}"], "no images"),
        (["compare", "rapidocr", "--corpus", "{corpus}"], "give two targets"),
        (["compare", "rapidocr", "--from-report", "{empty}"], "give no targets"),
        (["compare", "--from-report", "{empty}"], "not a compare report"),
    ],
)
def test_bad_input_is_one_line_not_a_traceback(
    args: list[str], message: str, corpus: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    args = [a.format(corpus=corpus, empty=tmp_path / "empty") for a in args]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
