"""Fitting the gate from a saved report: folds by source, the fit, the curves, the PNG and the CLI."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.evaluation.corpus import Metric
from tierocr.evaluation.gate import GateCalibration, GatePage, GateRow
from tierocr.evaluation.gate_curves import Scored, at_recall, curve, fit_gate, loso_folds
from tierocr.evaluation.gate_fit import Sample, fit_logistic, samples_from
from tierocr.evaluation.gate_report import kind_table, plot_curves, time_cost
from tierocr.quality import GateModel

SOURCES = ("alpha", "beta", "gamma", "delta")


def calibration(seed: int = 0, pages: int = 1) -> GateCalibration:
    """Rows from four sources; bad documents disagree with a second read, good ones do not."""
    rng = random.Random(seed)
    rows = []
    for k in range(40):
        bad = k % 3 == 0
        source = SOURCES[k % 4]
        row_pages = [
            GatePage(
                page=p + 1,
                accepted=True,
                measurements={
                    "agreement_distance": (0.5 if bad else 0.05) + rng.uniform(-0.04, 0.04),
                    "garbage_ratio": rng.uniform(0, 0.05),  # noise
                    "seconds": 1.0,
                },
                seconds_gate=0.1,
                seconds_classical=2.0,
            )
            for p in range(pages if k % 5 == 0 else 1)
        ]
        rows.append(
            GateRow(
                id=f"{source}-{k}",
                source=source,
                content="table" if k % 2 else "text",
                metric=Metric.NED,
                score=0.4 if bad else 0.02,
                bad=bad,
                flagged=False,
                pages=row_pages,
            )
        )
    return GateCalibration(system="tierocr", bad_ned_threshold=0.15, rows=rows, groups=[])


def test_leave_one_source_out_folds_never_train_on_the_held_out_source() -> None:
    samples = samples_from(calibration(pages=2), hard_floors=[])
    folds = loso_folds(samples)
    assert [f[0] for f in folds] == sorted(SOURCES)
    held_out = sorted(k for _, _, held in folds for k in held)
    assert held_out == list(range(len(samples)))  # each page scored exactly once
    for source, train, held in folds:
        assert all(samples[k].source != source for k in train)
        assert all(samples[k].source == source for k in held)


def test_multi_page_documents_count_once() -> None:
    samples = samples_from(calibration(pages=3), hard_floors=[])
    by_row: dict[str, float] = {}
    for s in samples:
        by_row[s.row] = by_row.get(s.row, 0.0) + s.weight
    assert all(w == pytest.approx(1.0) for w in by_row.values())
    assert len(samples) > len(by_row)


def test_logistic_fit_finds_the_separating_feature() -> None:
    x = np.array([[0.1, np.nan], [0.2, 1.0], [0.8, 0.0], [0.9, 1.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    mean, _, coef, _ = fit_logistic(x, y, np.ones(4), l2=0.1)
    assert coef[0] > 1.0 and abs(coef[1]) < coef[0]
    assert mean[1] == pytest.approx(2 / 3)  # the missing value is left out of the mean


def test_curve_counts_floors_and_catches_a_document_by_any_page() -> None:
    def sample(row: str, bad: bool, floor: bool = False, **raw: float) -> Sample:
        return Sample(row=row, source="s", content="text", page=1, bad=bad, weight=1.0, raw=raw, floor=floor)

    samples = [
        sample("a", True),
        sample("a", True),
        sample("b", True, floor=True, floor_region_area_share=0.1),  # a formula crop, say
        sample("c", False),
    ]
    scored = Scored(samples, np.array([0.9, 0.1, 0.0, 0.5]), np.array([0.9, 0.1, 0.0, 0.5]), False)
    points = curve(scored)
    first = points[0]  # nothing above any threshold: the floors alone
    assert (first.recall, first.escalation_rate, first.pixel_share) == (0.5, 0.25, 0.025)
    at_09 = next(p for p in points if p.threshold == 0.9)
    assert (at_09.recall, at_09.escalation_rate) == (1.0, 0.5)  # document a caught by its first page
    assert at_09.pixel_share == pytest.approx((1.0 + 0.1) / 4)


def test_region_driven_escalation_costs_the_regions_only() -> None:
    page = Sample(
        row="t",
        source="s",
        content="table",
        page=1,
        bad=True,
        weight=1.0,
        raw={"failing_regions": 1.0, "region_area_share": 0.2},
        floor=False,
    )
    driven_by_regions = Scored([page], np.array([0.8]), np.array([0.1]), region_model=True)
    flags, cost = driven_by_regions.escalation(0.5)
    assert flags[0] and cost[0] == 0.2
    driven_by_page = Scored([page], np.array([0.8]), np.array([0.7]), region_model=True)
    assert driven_by_page.escalation(0.5)[1][0] == 1.0


def test_fit_gate_generalises_across_sources(tmp_path: Path) -> None:
    result = fit_gate(calibration(), hard_floors=[], target_recall=0.9)
    model = result.model
    assert "agreement_distance" in model.features and set(model.features) <= {"agreement_distance", "garbage"}
    assert model.coef[model.features.index("agreement_distance")] > 0
    point = at_recall(model.curve, 0.9)  # leave-one-source-out, thresholds matched by recall
    assert point is not None and point.escalation_rate < 0.45
    assert len(result.folds) == 4 and all(
        f.source not in {s.source for s in f.train.samples} for f in result.folds
    )
    assert model.fitted["sources"] == sorted(SOURCES) and model.fitted["documents"] == 40
    saved = GateModel.load(model.save(tmp_path / "gate_model.json"))
    assert saved.threshold(target_recall=0.9) == model.threshold(target_recall=0.9)
    groups = {k.group: k for k in kind_table(result, 0.9)}
    assert set(groups) == {"overall", "content=table", "content=text"}
    assert groups["overall"].loso_recall is not None and groups["overall"].loso_recall >= 0.9


def test_time_cost_and_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    cal = calibration()
    cost = time_cost(cal)
    assert cost is not None and cost.ratio_of_means == pytest.approx(0.05)
    png = plot_curves(fit_gate(cal, hard_floors=[]), tmp_path / "docs" / "curve.png", 0.9)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli_refits_from_a_saved_report_without_ocr(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = tmp_path / "report"
    report.mkdir()
    (report / "gate.json").write_text(calibration().model_dump_json(), encoding="utf-8")
    target = tmp_path / "model.json"
    result = CliRunner().invoke(
        app, ["eval", "--from-report", str(report), "--fit", "--model-out", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "agreement_distance" in GateModel.load(target).features
    assert (report / "gate_curve.png").is_file() and (report / "gate_fit.md").is_file()


def test_cli_names_a_report_without_gate_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "--from-report", str(tmp_path)])
    assert result.exit_code == 2 and "not a gate report" in result.output
