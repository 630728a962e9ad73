"""Fitting the calibrated gate from a saved gate report: the samples and the logistic model.

Unit and label: pages are scored, documents are labelled (bad: NED above the bar, a failed olmOCR test,
TEDS below 0.5). Each page takes its document's label, weighted 1/pages so that every document counts
once; a multi-page document is caught when any of its pages escalates (``gate_curves``). Pages a hard
floor escalates anyway (an inked page with nothing read...) go into every curve but not into the fit,
unless that would leave fewer than ``_MIN_POSITIVES`` bad documents to learn from: the model's job is
the pages the floors do not see. The fit is an L2-penalised logistic regression by Newton steps (IRLS)
in numpy, every weight non-negative: no scikit-learn needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tierocr.evaluation.gate import GateCalibration
from tierocr.quality.features import (
    DEFAULT_CANDIDATES,
    FEATURES,
    THRESHOLD_PREFIX,
    UNDIRECTED,
    feature_values,
)
from tierocr.quality.model import GateModel
from tierocr.quality.signals import PAGE_SIGNALS

#: Fewer bad documents than this outside the floors: fit on all pages instead.
_MIN_POSITIVES = 3


@dataclass(frozen=True, slots=True)
class Sample:
    row: str
    source: str
    content: str
    page: int
    bad: bool
    weight: float
    raw: dict[str, float]
    #: A hard floor fired on this page: it escalates whatever the model says.
    floor: bool
    #: The floor that fired concerns the whole page (near-empty, mojibake...), not only some regions.
    page_floor: bool = False


def samples_from(calibration: GateCalibration, hard_floors: list[str]) -> list[Sample]:
    """One sample per page of the report, labelled with its document's label."""
    out: list[Sample] = []
    for row in calibration.rows:
        for page in row.pages:
            fired = {
                k.removeprefix(THRESHOLD_PREFIX) for k in page.measurements if k.startswith(THRESHOLD_PREFIX)
            }
            floors = fired & set(hard_floors)
            out.append(
                Sample(
                    row=row.id,
                    source=row.source or row.id.split("-")[0],
                    content=row.content,
                    page=page.page,
                    bad=row.bad,
                    weight=1.0 / max(1, len(row.pages)),
                    raw=page.measurements,
                    floor=bool(floors) or not page.measurements,
                    page_floor=bool(floors & PAGE_SIGNALS) or not page.measurements,
                )
            )
    return out


def design(samples: list[Sample], features: list[str]) -> np.ndarray:
    """Feature matrix, NaN where a feature's raw value is missing."""
    rows = [[np.nan if v is None else v for v in feature_values(s.raw, features)] for s in samples]
    return np.asarray(rows, dtype=float).reshape(len(samples), len(features))


def usable_features(
    samples: list[Sample], candidates: tuple[str, ...] | list[str] | None = None
) -> list[str]:
    """The candidates (default: ``DEFAULT_CANDIDATES``) that vary over the samples: a constant or
    never-measured feature (the layout diagnostics before layout mode records them) carries nothing."""
    names = [n for n in (candidates or DEFAULT_CANDIDATES) if n in FEATURES and n not in UNDIRECTED]
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
