"""The calibrated gate: every signal measured, one probability, hard floors, and regions where they do.

:class:`PageJudge` is what the pipeline holds (one per pipeline: it keeps the model and the second engine
loaded). For each classical page it measures every signal (the threshold signals, agreement of two reads,
order ambiguity, table structure doubt, handwriting likelihood, and the stages' own diagnostics), stores
all raw values in the verdict, and decides:

- a hard-floor signal fired (an inked page with nothing read, mojibake, a table without structure...):
  escalate, whatever the model says;
- the model's probability that the read is bad reaches the operating point's threshold: escalate the
  whole page, or only its failing regions when the page would pass without the region-level evidence
  (a doubtful table, a formula) and those regions are known.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tierocr.config import GateSettings, Settings
from tierocr.document import FURNITURE_KINDS, BlockKind, Page, QualityVerdict, Tier
from tierocr.quality.agreement import SecondReader, measure_agreement
from tierocr.quality.features import CLEAN_RAW, DIAGNOSTIC_PREFIX, REGION_FEATURES, THRESHOLD_PREFIX
from tierocr.quality.handwriting import stroke_stats
from tierocr.quality.model import GateModel
from tierocr.quality.order import order_stats
from tierocr.quality.signals import PAGE_SIGNALS, Measurements, ink_ratio, measure
from tierocr.quality.structure import structure_stats
from tierocr.quality.verdict import failing_regions, verdict_from

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: Blocks whose confidence is not the recogniser's (the layout detector's score instead).
_NOT_RECOGNISED = frozenset({BlockKind.TABLE, BlockKind.FIGURE, BlockKind.FORMULA})


def raw_measurements(
    m: Measurements, page: Page, settings: GateSettings, fired: dict[str, float]
) -> dict[str, float]:
    """The threshold signals' values as a flat record (what the model file's features are made from)."""
    raw: dict[str, float] = {
        "chars": float(m.chars),
        "near_empty": 1.0 if "near_empty" in fired else 0.0,
        "repetition_share": m.repetition_share,
        "tabular_lines": float(m.tabular_lines),
        "split_rows": float(m.split_rows),
        "formula_like_blocks": float(len(m.formula_like_blocks)),
        "formulas_without_latex": float(len(m.formulas_without_latex)),
        "unstructured_tables": float(len(m.unstructured_tables)),
        "low_confidence_blocks": float(len(m.low_confidence_blocks)),
        "blocks": float(len(page.blocks)),
    }
    optional = {
        "ink_ratio": m.ink_ratio,
        "ink_pixels_per_char": m.ink_pixels_per_char,
        "garbage_ratio": m.garbage_ratio,
        "mojibake_ratio": m.mojibake_ratio,
        "mean_confidence": m.mean_confidence,
        "quantile_confidence": m.quantile_confidence,
    }
    raw.update({k: float(v) for k, v in optional.items() if v is not None})
    # The recogniser's own confidence, over the text it read: a table's or a figure's block carries the
    # layout detector's score, a text-layer block 1.0, neither of which says how well text was read.
    confidences = [
        (b.confidence, len(b.text.strip()))
        for b in page.blocks
        if b.confidence is not None
        and b.text.strip()
        and b.provenance.tier is Tier.OCR
        and b.kind not in _NOT_RECOGNISED
    ]
    if confidences:
        weight = sum(w for _, w in confidences)
        mean = sum(c * w for c, w in confidences) / weight
        raw["ocr_confidence"] = mean
        raw["confidence_spread"] = math.sqrt(sum(w * (c - mean) ** 2 for c, w in confidences) / weight)
        raw["low_confidence_char_share"] = sum(w for c, w in confidences if c < 0.9) / weight
    chars = {t: 0 for t in Tier}
    for block in page.blocks:
        chars[block.provenance.tier] += len(block.text.strip())
    total = sum(chars.values())
    if total:
        raw["ocr_char_share"] = chars[Tier.OCR] / total
        raw["text_layer_char_share"] = chars[Tier.TEXT_LAYER] / total
    area = page.width * page.height
    if area > 0:
        raw["chars_per_megapixel"] = m.chars / (area / 1e6)
        for kind, key in ((BlockKind.FIGURE, "figure_area_share"), (BlockKind.TABLE, "table_area_share")):
            boxes = [b.bbox.area for b in page.blocks if b.kind is kind and b.bbox is not None]
            raw[key] = min(1.0, sum(boxes) / area)
    raw["formula_blocks"] = float(sum(1 for b in page.blocks if b.kind is BlockKind.FORMULA))
    raw["furniture_blocks"] = float(sum(1 for b in page.blocks if b.kind in FURNITURE_KINDS))
    return raw


def region_area(page: Page, indices: Iterable[int]) -> float:
    """Share of the page's pixels in these blocks' boxes (1.0 when one has no box: the page goes whole)."""
    area = page.width * page.height
    boxes = [page.blocks[i].bbox for i in indices]
    if area <= 0 or any(b is None for b in boxes):
        return 1.0
    return min(1.0, sum(b.area for b in boxes if b is not None) / area)


class PageJudge:
    """The gate of one pipeline: the model and the second engine are loaded once, on first need."""

    def __init__(self, settings: Settings, *, reader: SecondReader | None = None) -> None:
        self.settings = settings
        self.gate = settings.gate
        self._model: GateModel | None = None
        self._reader = reader
        if reader is None and settings.gate.agreement_samples > 0:
            self._reader = SecondReader(settings.ocr, settings.ocr.engine)

    @property
    def model(self) -> GateModel:
        if self._model is None:
            self._model = GateModel.load(self.gate.model_path)
        return self._model

    def threshold(self) -> float:
        return self.model.threshold(target_recall=self.gate.target_recall, budget=self.gate.escalation_budget)

    def measure(
        self, page: Page, image: Image.Image | None
    ) -> tuple[Measurements, dict[str, float], dict[int, str]]:
        """Every signal of the page: the threshold measurements, the flat raw record, failing regions."""
        gate = self.gate
        ink = ink_ratio(image, gate.ink_threshold) if image is not None else None
        pixels = page.width * page.height
        m = measure(page.blocks, gate, languages=self.settings.ocr.languages, ink_ratio=ink, pixels=pixels)
        fired = verdict_from(m, gate).signals
        raw = raw_measurements(m, page, gate, fired)
        regions = failing_regions(page, gate) if page.blocks else {}
        structure = structure_stats(page)
        raw["tables"] = float(structure.tables)
        raw["table_char_share"] = structure.table_char_share
        if structure.doubt is not None:
            raw["table_doubt"] = structure.doubt
        for index, doubt in structure.per_block.items():
            if doubt >= gate.region_table_doubt:
                regions.setdefault(index, "table_doubt")
        order = order_stats(page)
        raw.update(
            order_units=float(order.units),
            columns=float(order.columns),
            order_ambiguity=order.ambiguity,
            order_vs_geometry=order.page_vs_geometry,
            gutter_crossing=order.gutter_crossing,
        )
        if image is not None:
            strokes = stroke_stats(image, page)
            raw["ink_components"] = float(strokes.components)
            if strokes.axis_share is not None:
                raw["stroke_axis_share"] = strokes.axis_share
            handwritten = 0
            for index, share in strokes.per_block.items():
                if share <= gate.region_handwriting_axis_share:
                    regions.setdefault(index, "handwriting")
                    handwritten += len(page.blocks[index].text.strip())
            if strokes.per_block:
                raw["min_block_axis_share"] = min(strokes.per_block.values())
                raw["handwritten_char_share"] = handwritten / max(1, m.chars)
            if self._reader is not None and gate.agreement_samples > 0:
                agreement = measure_agreement(page, image, self._reader, gate)
                if agreement.text_distance is not None:
                    raw["agreement_distance"] = agreement.text_distance
                    raw["agreement_max_distance"] = agreement.max_text_distance or 0.0
                    raw["agreement_samples"] = float(agreement.samples)
                    raw["agreement_disputed_share"] = agreement.disputed_share
                if agreement.table_mismatch is not None:
                    raw["table_word_mismatch"] = agreement.table_mismatch
                for index, distance in (agreement.per_block or {}).items():
                    if distance >= gate.region_agreement_distance:
                        regions.setdefault(index, "disagreement")
        for key, value in fired.items():
            # Which threshold signals fired, so a refit can choose other hard floors without re-reading.
            raw[THRESHOLD_PREFIX + key] = value
        for key, value in page.diagnostics.items():
            raw[DIAGNOSTIC_PREFIX + key] = float(value)
        raw["failing_regions"] = float(len(regions))
        raw["region_area_share"] = region_area(page, regions)
        floor_regions = {i for i, why in regions.items() if why in gate.hard_floors}
        raw["floor_region_area_share"] = region_area(page, floor_regions)
        return m, {k: round(v, 6) for k, v in raw.items()}, regions

    def judge(self, page: Page, image: Image.Image | None) -> QualityVerdict:
        m, raw, regions = self.measure(page, image)
        legacy = verdict_from(m, self.gate)
        if self.gate.mode == "thresholds":
            return legacy.model_copy(update={"measurements": raw})
        if not page.blocks and image is None:
            # Nothing read and nothing to look at (a page that could not be rendered): nothing to judge.
            return QualityVerdict(accepted=True, score=legacy.score, measurements=raw)
        floors = {k: v for k, v in legacy.signals.items() if k in self.gate.hard_floors}
        reasons = [r for k, r in zip(legacy.signals, legacy.reasons, strict=True) if k in floors]
        model = self.model
        probability = model.probability(raw)
        threshold = self.threshold()
        signals = dict(floors)
        scope: str | None = None
        if probability >= threshold:
            contributions = model.contributions(raw)
            top = sorted(contributions.items(), key=lambda kv: -kv[1])[:3]
            why = ", ".join(f"{name} {value:+.2f}" for name, value in top if value > 0)
            signals["bad_probability"] = round(probability, 4)
            reasons.append(f"probability of a bad read {probability:.2f} >= {threshold:.2f} ({why})")
            without_regions = model.probability({**raw, **CLEAN_RAW})
            region_driven = any(n in REGION_FEATURES for n in model.features) and without_regions < threshold
            scope = "regions" if region_driven and regions else "page"
        if floors:
            page_floor = bool(PAGE_SIGNALS & floors.keys())
            scope = "page" if page_floor or scope == "page" or not regions else "regions"
        return QualityVerdict(
            accepted=not signals,
            score=legacy.score,
            signals=signals,
            reasons=reasons,
            probability=round(probability, 4),
            threshold=round(threshold, 4),
            scope=scope,  # type: ignore[arg-type]
            regions=regions if scope == "regions" else {},
            measurements=raw,
        )
