"""Scoring tierocr (and any other system) on the evaluation corpus with each source's own metric.

The public names are resolved on first use (PEP 562), so that importing the package (as `tierocr
--help` does to register `tierocr eval`) does not need the `eval` extra's scorers installed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "GroundTruthFormat": "corpus",
    "ManifestRow": "corpus",
    "Metric": "corpus",
    "read_manifest": "corpus",
    "select_rows": "corpus",
    "Aggregate": "models",
    "EvalReport": "models",
    "GroupSummary": "models",
    "RowResult": "models",
    "SystemResult": "models",
    "evaluate_corpus": "runner",
    "evaluate_rows": "runner",
    "GroundTruth": "scoring",
    "Scored": "scoring",
    "load_groundtruth": "scoring",
    "BareEngineSystem": "systems",
    "SystemFn": "systems",
    "TierocrSystem": "systems",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tierocr.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tierocr.evaluation.{module}"), name)
