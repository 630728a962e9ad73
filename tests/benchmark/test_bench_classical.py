"""`tierocr bench` and `tierocr compare` on the classical tiers, each measured in a process of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierocr.cli import app

pytest.importorskip("matplotlib")

CONFIG = """\
bench:
  throughput_rounds: 1
  throughput_min_requests: 2
  request_images: 1
  diff_documents: 3
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.mark.slow
def test_bench_classical_tiers_in_their_own_processes(corpus: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["bench", "rapidocr", "tierocr --no-layout", "--images", str(images), "--corpus", str(corpus)]
    args += ["--limit", "1", "--pdf", str(corpus / "docs" / "report.pdf"), "--concurrency", "1,2"]
    args += ["--warm-requests", "2", "-o", str(out), "--config", str(_config(tmp_path))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [t["name"] for t in report["targets"]] == ["rapidocr", "tierocr-no-layout"]
    for target in report["targets"]:
        assert target["error"] is None and target["request_errors"] == []
        assert "process start" in target["cold_method"]
        # Timed from the spawn of its own process: the interpreter and imports come before the first answer.
        assert target["cold_start_s"] > target["first_request_s"] > 0
        assert target["warm"]["count"] == 2
        assert [(p["concurrency"], p["workers"]) for p in target["throughput"]] == [(1, 1), (2, 2)]
        assert target["peak_rss_mb"] > 50 and target["gpu"] is None
        assert target["pdf"]["pages"] == 2 and target["pdf"]["pages_per_s"] > 0
        assert target["warm_tokens_per_s"] is None  # no tokens in classical OCR
        assert target["corpus"][0]["results"][target["name"]]["score"] == pytest.approx(0.0, abs=0.1)
    assert (out / "outputs" / "tierocr-no-layout" / "docs-invoice.md").read_text(encoding="utf-8")
    assert "| rapidocr | engine |" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_compare_rapidocr_with_tierocr(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare"
    args = ["compare", "rapidocr", "tierocr", "--corpus", str(corpus), "--only", "docs-", "--limit", "2"]
    args += ["--warm-requests", "2", "-o", str(out), "--config", str(_config(tmp_path))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [t["name"] for t in data["bench"]["targets"]] == ["rapidocr", "tierocr"]
    by_measure = {(d["dimension"], d["measure"]): d for d in data["dimensions"]}
    recall = by_measure[("Digits and identifiers", "number tokens found verbatim (recall)")]
    assert recall["count"] == "4 tokens" and set(recall["values"]) == {"rapidocr", "tierocr"}
    assert recall["values"]["tierocr"] == pytest.approx(1.0)  # the invoice's ID, date, amount; the cell
    images_per_s = by_measure[("Speed", "images/s at 5 concurrent")]["values"]
    assert all(v > 0 for v in images_per_s.values())
    assert all(max(d["disagreement"], d["score_gap"]) > 0 for d in data["diffs"])
    assert "rapidocr" in result.output and "tierocr" in result.output
