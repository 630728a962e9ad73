"""The calibrated gate's model: a logistic regression over the features, and its operating points.

It lives in a small JSON file inside the package (``gate_model.json``), written by ``tierocr eval gate-fit``
and applied here with plain arithmetic, so the run time needs neither scikit-learn nor a fit. Besides the
coefficients and the features' normalisation the file keeps the recall / escalation-rate curve measured
out of sample (leave-one-source-out), from which ``gate.target_recall`` or ``gate.escalation_budget``
picks the probability threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tierocr.quality.features import feature_values

MODEL_FILE = "gate_model.json"


class CurvePoint(BaseModel):
    """Escalate pages at or above ``threshold``: share of bad documents caught, share of pages sent to
    the VLM (whole or some regions), share of all pages' pixels sent."""

    threshold: float
    recall: float
    escalation_rate: float
    pixel_share: float | None = None


class GateModel(BaseModel):
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    #: Out-of-sample curve (leave-one-source-out, operating points matched by recall), thresholds descending.
    curve: list[CurvePoint] = Field(default_factory=list)
    #: The same from the final model's own (in-sample) probabilities, for comparison.
    in_sample_curve: list[CurvePoint] = Field(default_factory=list)
    default_threshold: float = 0.5
    fitted: dict[str, Any] = Field(default_factory=dict, description="What it was fitted on, and how.")

    def _z(self, raw: Mapping[str, float]) -> list[float]:
        values = feature_values(raw, self.features)
        return [
            0.0 if v is None else (v - m) / s for v, m, s in zip(values, self.mean, self.scale, strict=True)
        ]

    def logit(self, raw: Mapping[str, float]) -> float:
        return self.intercept + sum(c * z for c, z in zip(self.coef, self._z(raw), strict=True))

    def probability(self, raw: Mapping[str, float]) -> float:
        return _sigmoid(self.logit(raw))

    def contributions(self, raw: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the logit (coefficient × normalised value), for the verdict's reasons."""
        return {n: c * z for n, c, z in zip(self.features, self.coef, self._z(raw), strict=True)}

    def threshold(self, *, target_recall: float | None = None, budget: float | None = None) -> float:
        """The probability threshold of an operating point, read off the out-of-sample curve.

        ``budget``: the lowest threshold whose escalation rate stays within it; ``target_recall``: the
        highest threshold that still reaches it. Without a curve (or a reachable point): the default.
        """
        if budget is not None:
            within = [p.threshold for p in self.curve if p.escalation_rate <= budget + 1e-9]
            return min(within) if within else 1.0
        if target_recall is not None:
            reaching = [p.threshold for p in self.curve if p.recall >= target_recall - 1e-9]
            if reaching:
                return max(reaching)
        return self.default_threshold

    @classmethod
    def load(cls, path: Path | None = None) -> GateModel:
        """The model at ``path``, or the one shipped in the package."""
        if path is not None:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files("tierocr.quality").joinpath(MODEL_FILE).read_text(encoding="utf-8")
        return cls.model_validate(json.loads(text))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return path


def packaged_model_path() -> Path:
    """Where the shipped model file is in a source checkout (what ``gate-fit --install`` overwrites)."""
    return Path(__file__).resolve().parent / MODEL_FILE


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
