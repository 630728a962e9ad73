"""Fitting the calibrated gate from a saved gate report, and measuring it honestly.

Unit and label: pages are scored, documents are labelled (bad: NED above the bar, a failed olmOCR test,
TEDS below 0.5). Each page takes its document's label, weighted 1/pages so that every document counts
once; a multi-page document is caught when any of its pages escalates, and the escalation rate counts
pages. Pages a hard floor escalates anyway (an inked page with nothing read...) go into every curve but
not into the fit, unless that would leave fewer than ``_MIN_POSITIVES`` bad documents to learn from: the
model's job is the pages the floors do not see.

Honest estimate: leave-one-source-out. For each source folder of the corpus (docling, olmocr_bench,
sroie...) the model is fitted on all other sources and scores the held-out one; the pooled out-of-fold
probabilities give the recall / escalation-rate curve that the shipped operating points are read from.
The in-sample curve (the final model on its own training pages) is reported beside it, to show the gap.
The fit is an L2-penalised logistic regression by Newton steps (IRLS) in numpy: no scikit-learn needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from tierocr.evaluation.gate import GateCalibration
from tierocr.quality.features import FEATURES, THRESHOLD_PREFIX, UNDIRECTED, feature_values
from tierocr.quality.model import CurvePoint, GateModel

#: Fewer bad documents than this outside the floors: fit on all pages instead.
_MIN_POSITIVES = 3
#: L2 strengths tried; the one with the best leave-one-source-out curve is kept.
L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class Sample:
    row: str
    source: str
    content: str
    page: int
    bad: bool
    weight: float
    raw: dict[str, float]
    floor: bool


def samples_from(calibration: GateCalibration, hard_floors: list[str]) -> list[Sample]:
    """One sample per page of the report, labelled with its document's label."""
    floors = {THRESHOLD_PREFIX + name for name in hard_floors}
    out: list[Sample] = []
    for row in calibration.rows:
        for page in row.pages:
            floor = bool(floors & page.measurements.keys()) or not page.measurements
            out.append(
                Sample(
                    row=row.id,
                    source=row.source or row.id.split("-")[0],
                    content=row.content,
                    page=page.page,
                    bad=row.bad,
                    weight=1.0 / max(1, len(row.pages)),
                    raw=page.measurements,
                    floor=floor,
                )
            )
    return out


def design(samples: list[Sample], features: list[str]) -> np.ndarray:
    """Feature matrix, NaN where a feature's raw value is missing."""
    rows = [[np.nan if v is None else v for v in feature_values(s.raw, features)] for s in samples]
    return np.asarray(rows, dtype=float).reshape(len(samples), len(features))


def usable_features(samples: list[Sample]) -> list[str]:
    """The features that vary over the samples (a constant or never-measured one carries nothing)."""
    names = [n for n in FEATURES if n not in UNDIRECTED]
    matrix = design(samples, names)
    keep = []
    for j, name in enumerate(names):
        column = matrix[:, j]
        column = column[~np.isnan(column)]
        if len(column) >= 2 and float(np.ptp(column)) > 1e-9:
            keep.append(name)
    return keep


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> tuple[np.ndarray, ...]:
    """Mean, scale, coefficients and intercept of an L2-penalised logistic regression (IRLS).

    Features are standardised on the training rows (missing values enter at 0, the mean); the weights
    are scaled to sum to the number of documents, so ``l2`` means the same for any corpus size.
    """
    mean = np.nanmean(x, axis=0) if len(x) else np.zeros(x.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)
    scale = np.nanstd(x, axis=0) if len(x) else np.ones(x.shape[1])
    scale = np.where(np.isnan(scale) | (scale < 1e-9), 1.0, scale)
    z = np.nan_to_num((x - mean) / scale, nan=0.0)
    n, d = z.shape
    design_matrix = np.hstack([np.ones((n, 1)), z])
    w = w * (w.sum() and len(w) / w.sum())
    beta = np.zeros(d + 1)
    prior = float(np.clip((w * y).sum() / max(w.sum(), 1e-9), 1e-3, 1 - 1e-3))
    beta[0] = math.log(prior / (1 - prior))
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design_matrix @ beta, -30, 30)))
        gradient = design_matrix.T @ (w * (p - y)) + penalty * beta
        hessian = design_matrix.T @ (design_matrix * (w * p * (1 - p))[:, None]) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return mean, scale, beta[1:], np.array([beta[0]])


def _train_rows(samples: list[Sample]) -> list[int]:
    """Rows the model learns from: pages of documents no hard floor caught (if enough bad remain)."""
    floored = {s.row for s in samples if s.floor}
    rows = [k for k, s in enumerate(samples) if s.row not in floored]
    if len({samples[k].row for k in rows if samples[k].bad}) < _MIN_POSITIVES:
        rows = list(range(len(samples)))
    return rows


def fit_model(samples: list[Sample], features: list[str], l2: float) -> GateModel:
    """The model on ``samples``, every coefficient non-negative.

    Each feature is built so that a larger value means a worse read (more disagreement, more doubt, more
    of what classical reads get wrong); a negative weight would only learn which corpus sources happen
    to be easy. So a feature that comes out negative is dropped (coefficient 0) and the rest refitted.
    """
    rows = _train_rows(samples)
    chosen = [samples[k] for k in rows]
    x = design(chosen, features)
    y = np.array([float(s.bad) for s in chosen])
    w = np.array([s.weight for s in chosen])
    active = list(range(len(features)))
    while True:
        mean, scale, coef, intercept = fit_logistic(x[:, active], y, w, l2)
        if len(coef) == 0 or coef.min() >= 0:
            break
        del active[int(np.argmin(coef))]
    return GateModel(
        features=[features[j] for j in active],
        mean=[round(float(v), 6) for v in mean],
        scale=[round(float(v), 6) for v in scale],
        coef=[round(float(v), 6) for v in coef],
        intercept=round(float(intercept[0]), 6),
    )


def loso_folds(samples: list[Sample]) -> list[tuple[str, list[int], list[int]]]:
    """(held-out source, training rows, held-out rows) per source: no source is ever in its own fold."""
    folds = []
    for source in sorted({s.source for s in samples}):
        held = [k for k, s in enumerate(samples) if s.source == source]
        train = [k for k, s in enumerate(samples) if s.source != source]
        folds.append((source, train, held))
    return folds


def loso_probabilities(samples: list[Sample], features: list[str], l2: float) -> np.ndarray:
    """Each page's probability from a model fitted without its source."""
    out = np.zeros(len(samples))
    for _, train, held in loso_folds(samples):
        model = fit_model([samples[k] for k in train], features, l2)
        for k in held:
            out[k] = model.probability(samples[k].raw)
    return out


def curve(samples: list[Sample], probabilities: np.ndarray) -> list[CurvePoint]:
    """Recall of bad documents and page escalation rate at every distinct threshold, descending.

    A page escalates when a hard floor fires or its probability reaches the threshold; a document is
    caught when any of its pages escalates.
    """
    if not samples:
        return []
    thresholds = sorted({float(p) for p in probabilities}, reverse=True)
    bad_rows = {s.row for s in samples if s.bad}
    points = []
    for threshold in [math.inf, *thresholds]:
        escalated = [s.floor or p >= threshold for s, p in zip(samples, probabilities, strict=True)]
        caught = {s.row for s, e in zip(samples, escalated, strict=True) if e} & bad_rows
        points.append(
            CurvePoint(
                threshold=round(min(threshold, 1.0), 6) if threshold != math.inf else 1.000001,
                recall=round(len(caught) / len(bad_rows), 4) if bad_rows else 1.0,
                escalation_rate=round(sum(escalated) / len(samples), 4),
            )
        )
    return points


def at_recall(points: list[CurvePoint], target: float) -> CurvePoint | None:
    """The operating point with the least escalation that reaches ``target`` recall."""
    reaching = [p for p in points if p.recall >= target - 1e-9]
    return min(reaching, key=lambda p: (p.escalation_rate, -p.threshold)) if reaching else None


def at_threshold(points: list[CurvePoint], threshold: float) -> CurvePoint | None:
    below = [p for p in points if p.threshold >= threshold - 1e-12]
    return min(below, key=lambda p: p.threshold) if below else None


def _cost(points: list[CurvePoint], target: float) -> float:
    point = at_recall(points, target)
    return point.escalation_rate if point is not None else 2.0


@dataclass(slots=True)
class FitResult:
    model: GateModel
    samples: list[Sample]
    loso: np.ndarray
    in_sample: np.ndarray
    l2_costs: dict[float, float] = field(default_factory=dict)


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
    names = features or usable_features(samples)
    costs: dict[float, float] = {}
    outs: dict[float, np.ndarray] = {}
    for l2 in l2_grid:
        outs[l2] = loso_probabilities(samples, names, l2)
        costs[l2] = _cost(curve(samples, outs[l2]), target_recall)
    best = min(l2_grid, key=lambda l2: (costs[l2], -l2))  # ties: the stronger penalty
    model = fit_model(samples, names, best)
    in_sample = np.array([model.probability(s.raw) for s in samples])
    loso_curve = curve(samples, outs[best])
    point = at_recall(loso_curve, target_recall)
    sources = sorted({s.source for s in samples})
    model = model.model_copy(
        update={
            "curve": loso_curve,
            "in_sample_curve": curve(samples, in_sample),
            "default_threshold": point.threshold if point is not None else 0.5,
            "fitted": {
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "documents": len({s.row for s in samples}),
                "bad_documents": len({s.row for s in samples if s.bad}),
                "pages": len(samples),
                "sources": sources,
                "l2": best,
                "l2_loso_escalation_at_target": {str(k): v for k, v in costs.items()},
                "target_recall": target_recall,
                "hard_floors": hard_floors,
                "label": f"bad: NED > {calibration.bad_ned_threshold}, a failed olmOCR test, TEDS < 0.5",
            },
        }
    )
    return FitResult(model=model, samples=samples, loso=outs[best], in_sample=in_sample, l2_costs=costs)
