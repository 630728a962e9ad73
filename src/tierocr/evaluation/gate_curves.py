"""What a fitted gate escalates, at every threshold, in-sample and on sources it has not seen.

A page escalates when a hard floor fires or the model's probability reaches the threshold. What that
costs is counted two ways: pages touched (a page with one formula crop re-read counts as one), and the
share of pixels sent (a region-driven escalation sends its failing regions' area, a page-driven one the
whole page): the VLM's work is in pixels, not in pages. A document is caught when any page escalates.

The honest estimate is leave-one-source-out, with operating points matched by escalation rate: each
fold's model (fitted without one source folder of the corpus) takes the threshold that escalates a given
share of its own training pages, and that threshold is applied to the held-out source. Pooling raw
probabilities across folds instead would compare models whose scales differ (a fold trained without the
source that holds most bad pages puts all its probabilities low); matching by recall instead cannot ask
for more than the training recall of 1.0. Each point of the shipped curve therefore says: the final model
at this threshold escalates this share of the corpus, and models fitted the same way, run at the same
share of their training pages, reached the stored recall and escalation on the sources they had not
seen. ``gate.target_recall`` picks the highest threshold whose out-of-sample recall reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from tierocr.evaluation.gate import GateCalibration
from tierocr.evaluation.gate_fit import Sample, fit_model, samples_from, usable_features
from tierocr.quality.features import CLEAN_RAW, REGION_FEATURES
from tierocr.quality.model import CurvePoint, GateModel

#: L2 strengths tried; the one with the cheapest leave-one-source-out operating point is kept.
L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
#: Threshold of the point where only the hard floors escalate.
FLOORS_ONLY = 1.000001


@dataclass(slots=True)
class Scored:
    """One model's probabilities for some samples, and the same with the region evidence removed."""

    samples: list[Sample]
    p: np.ndarray
    p_clean: np.ndarray
    region_model: bool

    @classmethod
    def of(cls, model: GateModel, samples: list[Sample]) -> Scored:
        return cls(
            samples=samples,
            p=np.array([model.probability(s.raw) for s in samples]),
            p_clean=np.array([model.probability({**s.raw, **CLEAN_RAW}) for s in samples]),
            region_model=any(n in REGION_FEATURES for n in model.features),
        )

    def escalation(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Which pages escalate at ``threshold``, and the share of each page's pixels sent."""
        flags = np.zeros(len(self.samples), dtype=bool)
        cost = np.zeros(len(self.samples))
        for k, s in enumerate(self.samples):
            by_model = bool(self.p[k] >= threshold)
            regions = s.raw.get("failing_regions", 0.0) > 0
            region_driven = self.region_model and regions and bool(self.p_clean[k] < threshold)
            if s.page_floor or (by_model and not region_driven):
                cost[k] = 1.0
            elif by_model:
                cost[k] = s.raw.get("region_area_share", 1.0)
            elif s.floor:
                cost[k] = s.raw.get("floor_region_area_share", 1.0)
            flags[k] = by_model or s.floor
        return flags, cost


def metrics(samples: list[Sample], flags: np.ndarray, cost: np.ndarray) -> tuple[float | None, float, float]:
    """(recall of bad documents, share of pages escalated, share of pixels sent)."""
    bad = {s.row for s in samples if s.bad}
    caught = {s.row for s, f in zip(samples, flags, strict=True) if f} & bad
    n = max(1, len(samples))
    return (len(caught) / len(bad) if bad else None), float(flags.sum()) / n, float(cost.sum()) / n


def curve(scored: Scored) -> list[CurvePoint]:
    """Recall, escalation rate and pixel share at every distinct threshold, descending."""
    thresholds = [FLOORS_ONLY, *sorted({round(float(p), 6) for p in scored.p}, reverse=True)]
    points = []
    for threshold in thresholds:
        recall, rate, pixels = metrics(scored.samples, *scored.escalation(threshold))
        points.append(
            CurvePoint(
                threshold=threshold,
                recall=round(recall if recall is not None else 1.0, 4),
                escalation_rate=round(rate, 4),
                pixel_share=round(pixels, 4),
            )
        )
    return points


def at_recall(points: list[CurvePoint], target: float) -> CurvePoint | None:
    """The operating point with the least escalation that reaches ``target`` recall."""
    reaching = [p for p in points if p.recall >= target - 1e-9]
    return min(reaching, key=lambda p: (p.escalation_rate, p.pixel_share, -p.threshold)) if reaching else None


@dataclass(slots=True)
class Fold:
    source: str
    train: Scored
    held: Scored
    held_index: list[int]
    train_curve: list[CurvePoint] = field(default_factory=list)

    def threshold_for(self, rate: float) -> float:
        """The threshold that escalates at most ``rate`` of this fold's training pages (the most it can)."""
        within = [p.threshold for p in self.train_curve if p.escalation_rate <= rate + 1e-9]
        return min(within) if within else FLOORS_ONLY


def loso_folds(samples: list[Sample]) -> list[tuple[str, list[int], list[int]]]:
    """(held-out source, training rows, held-out rows) per source: no source is ever in its own fold."""
    folds = []
    for source in sorted({s.source for s in samples}):
        held = [k for k, s in enumerate(samples) if s.source == source]
        train = [k for k, s in enumerate(samples) if s.source != source]
        folds.append((source, train, held))
    return folds


def fit_folds(samples: list[Sample], features: list[str], l2: float) -> list[Fold]:
    folds = []
    for source, train, held in loso_folds(samples):
        model = fit_model([samples[k] for k in train], features, l2)
        fold = Fold(
            source=source,
            train=Scored.of(model, [samples[k] for k in train]),
            held=Scored.of(model, [samples[k] for k in held]),
            held_index=held,
        )
        fold.train_curve = curve(fold.train)
        folds.append(fold)
    return folds


def loso_escalation(samples: list[Sample], folds: list[Fold], rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Every page's escalation and cost when each fold runs at the threshold that escalates ``rate`` of
    its own training pages."""
    flags = np.zeros(len(samples), dtype=bool)
    cost = np.zeros(len(samples))
    for fold in folds:
        f, c = fold.held.escalation(fold.threshold_for(rate))
        flags[fold.held_index], cost[fold.held_index] = f, c
    return flags, cost


def matched_curve(final: Scored, folds: list[Fold]) -> list[CurvePoint]:
    """For each threshold of the final model, the leave-one-source-out result at its in-sample rate."""
    points = []
    for point in curve(final):
        loso = loso_escalation(final.samples, folds, point.escalation_rate)
        recall, rate, pixels = metrics(final.samples, *loso)
        points.append(
            CurvePoint(
                threshold=point.threshold,
                recall=round(recall if recall is not None else 1.0, 4),
                escalation_rate=round(rate, 4),
                pixel_share=round(pixels, 4),
            )
        )
    return points


@dataclass(slots=True)
class FitResult:
    model: GateModel
    samples: list[Sample]
    final: Scored
    folds: list[Fold]
    l2_costs: dict[float, float] = field(default_factory=dict)


def _cost(points: list[CurvePoint], target: float) -> tuple[float, float]:
    point = at_recall(points, target)
    return (point.escalation_rate, point.pixel_share) if point is not None else (2.0, 2.0)


def fit_gate(
    calibration: GateCalibration,
    hard_floors: list[str],
    *,
    target_recall: float = 0.9,
    features: list[str] | None = None,
    l2_grid: tuple[float, ...] = L2_GRID,
) -> FitResult:
    """Fit the gate on a calibration report: L2 chosen by the leave-one-source-out curve, the model
    refitted on everything, both curves stored in it."""
    samples = samples_from(calibration, hard_floors)
    if not any(s.bad for s in samples) or all(s.bad for s in samples):
        raise ValueError("the report needs both good and bad documents to fit the gate")
    names = usable_features(samples, features)
    tried: dict[float, tuple[GateModel, Scored, list[Fold], list[CurvePoint]]] = {}
    costs: dict[float, tuple[float, float]] = {}
    for l2 in l2_grid:
        model = fit_model(samples, names, l2)
        final = Scored.of(model, samples)
        folds = fit_folds(samples, names, l2)
        loso = matched_curve(final, folds)
        tried[l2], costs[l2] = (model, final, folds, loso), _cost(loso, target_recall)
    best = min(l2_grid, key=lambda l2: (costs[l2], -l2))  # ties: the stronger penalty
    model, final, folds, loso = tried[best]
    point = at_recall(loso, target_recall)
    model = model.model_copy(
        update={
            "curve": loso,
            "in_sample_curve": curve(final),
            "default_threshold": point.threshold if point is not None else 0.5,
            "fitted": {
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "documents": len({s.row for s in samples}),
                "bad_documents": len({s.row for s in samples if s.bad}),
                "pages": len(samples),
                "sources": sorted({s.source for s in samples}),
                "candidate_features": names,
                "l2": best,
                "l2_loso_cost_at_target": {str(k): list(v) for k, v in costs.items()},
                "target_recall": target_recall,
                "hard_floors": hard_floors,
                "label": f"bad: NED > {calibration.bad_ned_threshold}, a failed olmOCR test, TEDS < 0.5",
            },
        }
    )
    return FitResult(
        model=model,
        samples=samples,
        final=final,
        folds=folds,
        l2_costs={k: v[0] for k, v in costs.items()},
    )
