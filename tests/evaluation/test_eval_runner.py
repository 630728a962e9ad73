"""End to end on a tiny synthetic corpus with fake systems: scoring, failure isolation, reports, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.config import Settings
from tierocr.document import Document
from tierocr.evaluation import evaluate_corpus
from tierocr.evaluation.corpus import Metric

HEADER = "id\tkind\tfile\tgroundtruth_file\tgroundtruth_format\tlanguage\tcontent\tpages\n"
TEXT = "The quick brown fox jumps over the lazy dog."
TABLE = "<table><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table>"
TESTS = [
    {"pdf": "c.pdf", "page": 1, "id": "c1", "type": "present", "text": "quick brown"},
    {"pdf": "c.pdf", "page": 1, "id": "c2", "type": "absent", "text": "Page 3"},
    {"pdf": "c.pdf", "page": 1, "id": "c3", "type": "order", "before": "quick", "after": "lazy"},
    {"pdf": "c.pdf", "page": 1, "id": "c4", "type": "math", "math": "x^2"},
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "src").mkdir(parents=True)
    for name in ("a.png", "b.png", "c.pdf", "d.png"):
        (root / "src" / name).write_bytes(b"not read by the fake systems")
    (root / "src" / "a.txt").write_text(TEXT, encoding="utf-8")
    (root / "src" / "b.gt.html").write_text(TABLE, encoding="utf-8")
    (root / "src" / "c.tests.jsonl").write_text("\n".join(json.dumps(t) for t in TESTS), encoding="utf-8")
    (root / "src" / "d.md").write_text("# Heading\n\nbody", encoding="utf-8")
    (root / "manifest.tsv").write_text(
        HEADER
        + "src-a\timage\tsrc/a.png\tsrc/a.txt\ttxt\ten\tscanned\t1\n"
        + "src-b\timage\tsrc/b.png\tsrc/b.gt.html\thtml\ten\ttable\t1\n"
        + "src-c\tpdf\tsrc/c.pdf\tsrc/c.tests.jsonl\tjson\ten\ttext\t1\n"
        + "src-d\timage\tsrc/d.png\tsrc/d.md\tmd\tde\ttext\t1\n",
        encoding="utf-8",
    )
    return root


def perfect(path: Path, pages: str | None) -> tuple[str, Document | None]:
    """Returns what each reference expects; crashes on one document to test failure isolation."""
    outputs = {"a.png": TEXT, "b.png": TABLE, "c.pdf": f"# Title\n\n{TEXT}\n"}
    if path.name not in outputs:
        raise RuntimeError("simulated crash")
    return outputs[path.name], None


def sloppy(path: Path, pages: str | None) -> tuple[str, Document | None]:
    """Plain text without tables, with one typo."""
    return TEXT.replace("fox", "fax") + "\n\nPage 3", None


def test_scores_failures_and_summary(corpus: Path) -> None:
    report = evaluate_corpus(corpus, Settings(), [perfect, sloppy])
    rows = {row.id: row for row in report.rows}
    assert report.systems == ["perfect", "sloppy"]
    assert rows["src-a"].results["perfect"].score == 0.0
    assert rows["src-a"].results["sloppy"].score > 0.0
    assert rows["src-b"].results["perfect"].score == 1.0
    assert rows["src-b"].results["sloppy"].score is None  # no table in the output: n/a
    olm = rows["src-c"].results["perfect"]
    assert (olm.score, olm.details["counted"], olm.details["skipped"]) == (1.0, 3, 1)
    assert rows["src-c"].results["sloppy"].details["passed"] == 2  # "Page 3" must be absent
    crashed = rows["src-d"].results["perfect"]
    assert crashed.error is not None and "simulated crash" in crashed.error
    assert rows["src-d"].results["sloppy"].error is None  # the other system still ran

    ned = report.overall(Metric.NED)
    assert ned is not None
    assert ned.systems["perfect"].value == pytest.approx(0.5)  # 0.0 and a crash charged as 1.0
    assert ned.systems["perfect"].failed == 1
    teds = report.overall(Metric.TEDS)
    assert teds is not None
    assert teds.systems["sloppy"].value == 0.0
    assert teds.systems["sloppy"].missing == 1
    groups = {(g.group, g.metric) for g in report.summary}
    assert ("content=scanned", Metric.NED) in groups
    assert ("language=de", Metric.NED) in groups


def test_output_with_utf16_surrogates_is_repaired_not_fatal(corpus: Path, tmp_path: Path) -> None:
    def leaky(path: Path, pages: str | None) -> tuple[str, Document | None]:
        return TEXT + " \udb82\udc54 \ud800", None  # a split astral character and a lone surrogate

    report = evaluate_corpus(corpus, Settings(), [leaky], only="src-a", outputs_dir=tmp_path / "out")
    result = report.rows[0].results["leaky"]
    assert result.error is None
    assert "invalid_unicode" in result.details
    assert (tmp_path / "out" / "leaky" / "src-a.md").read_text(encoding="utf-8").endswith("\U000f0854 \ufffd")
    report.model_dump_json()  # serialisable


def test_only_and_limit_select_rows(corpus: Path) -> None:
    assert [r.id for r in evaluate_corpus(corpus, Settings(), [perfect], only="src-b").rows] == ["src-b"]
    assert len(evaluate_corpus(corpus, Settings(), [perfect], limit=2).rows) == 2


def test_cli_writes_reports(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "tierocr.evaluation.cli.build_systems", lambda settings, rows, **kw: [perfect, sloppy]
    )
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["eval", str(corpus), "--baseline", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [row["id"] for row in data["rows"]] == ["src-a", "src-b", "src-c", "src-d"]
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| perfect | s/page | sloppy | s/page |" in markdown
    assert "simulated crash" in markdown
    assert (out / "outputs" / "perfect" / "src-a.md").read_text(encoding="utf-8") == TEXT
    assert "perfect" in result.output and "sloppy" in result.output
