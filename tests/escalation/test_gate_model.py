"""The calibrated gate's model file, operating points, hard floors and region plans."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tierocr.config import GateSettings, Settings
from tierocr.document import BBox, Block, BlockKind, Page, Provenance, Tier
from tierocr.engines.vlm_profiles import Task
from tierocr.escalation import gate_page, plan_escalation
from tierocr.quality import GateModel, PageJudge
from tierocr.quality.features import FEATURES, feature_values
from tierocr.quality.model import CurvePoint

OCR = Provenance(tier=Tier.OCR, engine="rapidocr")
CLEAN = "The committee met on Tuesday to review the annual budget and agreed on a plan for the year."
CURVE = [
    CurvePoint(threshold=1.000001, recall=0.2, escalation_rate=0.05),
    CurvePoint(threshold=0.8, recall=0.6, escalation_rate=0.15),
    CurvePoint(threshold=0.5, recall=0.9, escalation_rate=0.3),
    CurvePoint(threshold=0.3, recall=0.95, escalation_rate=0.45),
    CurvePoint(threshold=0.1, recall=1.0, escalation_rate=0.8),
]


def model(features: list[str], coef: list[float], intercept: float) -> GateModel:
    n = len(features)
    return GateModel(
        features=features, mean=[0.0] * n, scale=[1.0] * n, coef=coef, intercept=intercept, curve=CURVE
    )


def settings_with(path: Path, **gate: object) -> Settings:
    return Settings(gate=GateSettings(model_path=path, agreement_samples=0, **gate))  # type: ignore[arg-type]


def text_block(y: float, text: str = CLEAN, confidence: float = 0.97) -> Block:
    return Block(text=text, confidence=confidence, provenance=OCR, bbox=BBox(x0=20, y0=y, x1=380, y1=y + 40))


def doubtful_table(y: float) -> Block:
    return Block(
        kind=BlockKind.TABLE,
        text="TOTAL 12.50 CASH 20.00 CHANGE 7.50 THANK YOU PLEASE COME AGAIN | 1\n | \n | ",
        html="<table><tr><td>x</td></tr></table>",
        provenance=OCR,
        bbox=BBox(x0=20, y0=y, x1=380, y1=y + 120),
    )


def page(*blocks: Block) -> Page:
    return Page(number=1, width=400, height=600, dpi=72, tier=Tier.OCR, blocks=list(blocks))


def white() -> Image.Image:
    return Image.new("RGB", (400, 600), "white")


def test_model_file_round_trip(tmp_path: Path) -> None:
    original = model(["table_doubt", "low_ocr_confidence"], [2.0, -1.0], -0.5)
    loaded = GateModel.load(original.save(tmp_path / "m.json"))
    assert loaded == original
    raw = {"table_doubt": 0.8, "ocr_confidence": 0.9}
    assert loaded.probability(raw) == pytest.approx(1 / (1 + pow(2.718281828459045, -(-0.5 + 1.6 - 0.1))))


def test_packaged_model_loads_and_uses_known_features() -> None:
    shipped = GateModel.load()
    assert shipped.features and set(shipped.features) <= set(FEATURES)
    assert len(shipped.coef) == len(shipped.mean) == len(shipped.scale) == len(shipped.features)
    assert 0.0 <= shipped.probability({}) <= 1.0  # every feature missing: the training mean


def test_missing_feature_enters_at_the_mean() -> None:
    m = GateModel(features=["table_doubt"], mean=[0.3], scale=[0.2], coef=[5.0], intercept=0.0)
    assert m.probability({}) == pytest.approx(0.5)
    assert feature_values({}, ["table_doubt", "handwriting"]) == [None, None]
    with pytest.raises(KeyError, match="unknown feature"):
        feature_values({}, ["no_such_feature"])


def test_operating_point_from_target_recall_or_budget() -> None:
    m = model(["table_doubt"], [1.0], 0.0)
    assert m.threshold(target_recall=0.9) == 0.5  # the highest threshold still reaching it
    assert m.threshold(target_recall=0.95) == 0.3
    assert m.threshold(budget=0.35) == 0.5  # the lowest threshold within the budget
    assert m.threshold(budget=0.01) == 1.0  # nothing fits: escalate only what the floors send
    assert m.model_copy(update={"curve": []}).threshold(target_recall=0.9) == m.default_threshold


def test_hard_floor_escalates_whatever_the_model_says(tmp_path: Path) -> None:
    never = model(["table_doubt"], [0.0], -30.0).save(tmp_path / "never.json")
    empty = page(text_block(10, "a1"))
    inked = Image.new("RGB", (400, 600), "black")
    verdict = PageJudge(settings_with(never)).judge(empty, inked)
    assert not verdict.accepted and "near_empty" in verdict.signals and verdict.scope == "page"
    assert verdict.probability is not None and verdict.probability < 0.01
    assert verdict.measurements["fired.near_empty"] == 2.0  # what fired is kept for refits
    assert PageJudge(settings_with(never, hard_floors=[])).judge(empty, inked).accepted


def test_clean_page_passes_and_all_measurements_are_kept(tmp_path: Path) -> None:
    path = model(["table_doubt"], [3.0], -2.0).save(tmp_path / "m.json")
    verdict = PageJudge(settings_with(path)).judge(page(text_block(10), text_block(60)), white())
    assert verdict.accepted and verdict.signals == {} and verdict.threshold == 0.5
    assert {"chars", "ocr_confidence", "order_ambiguity", "table_char_share"} <= verdict.measurements.keys()


def test_only_region_evidence_escalates_the_region(tmp_path: Path) -> None:
    path = model(["table_doubt", "low_ocr_confidence"], [6.0, 40.0], -4.0).save(tmp_path / "m.json")
    settings = settings_with(path)
    judged = gate_page(page(text_block(10), doubtful_table(100)), white(), settings)
    verdict = judged.quality
    assert verdict is not None and not verdict.accepted and verdict.scope == "regions"
    assert verdict.regions == {1: "table_doubt"} and "gate" in judged.timings
    plan = plan_escalation(judged, settings)
    assert plan.mode == "regions" and plan.regions[0].indices == (1,) and plan.regions[0].task is Task.TABLE


def test_page_level_evidence_escalates_the_page(tmp_path: Path) -> None:
    path = model(["table_doubt", "low_ocr_confidence"], [6.0, 40.0], -4.0).save(tmp_path / "m.json")
    settings = settings_with(path)
    shaky = page(text_block(10, confidence=0.6), doubtful_table(100))
    judged = gate_page(shaky, white(), settings)
    assert judged.quality is not None and judged.quality.scope == "page"
    assert plan_escalation(judged, settings).mode == "page"


def test_threshold_mode_keeps_the_old_rule(tmp_path: Path) -> None:
    path = model(["table_doubt"], [0.0], -30.0).save(tmp_path / "m.json")
    settings = settings_with(path, mode="thresholds")
    verdict = PageJudge(settings).judge(
        page(text_block(10, confidence=0.5), text_block(60, confidence=0.5)), None
    )
    assert not verdict.accepted and "mean_confidence" in verdict.signals and verdict.probability is None
