"""Scoring tierocr (and any other system) on the evaluation corpus with each source's own metric."""

from tierocr.evaluation.corpus import GroundTruthFormat, ManifestRow, Metric, read_manifest, select_rows
from tierocr.evaluation.models import Aggregate, EvalReport, GroupSummary, RowResult, SystemResult
from tierocr.evaluation.runner import evaluate_corpus, evaluate_rows
from tierocr.evaluation.scoring import GroundTruth, Scored, load_groundtruth
from tierocr.evaluation.systems import BareEngineSystem, SystemFn, TierocrSystem, default_systems

__all__ = [
    "Aggregate",
    "BareEngineSystem",
    "EvalReport",
    "GroundTruth",
    "GroundTruthFormat",
    "GroupSummary",
    "ManifestRow",
    "Metric",
    "RowResult",
    "Scored",
    "SystemFn",
    "SystemResult",
    "TierocrSystem",
    "default_systems",
    "evaluate_corpus",
    "evaluate_rows",
    "load_groundtruth",
    "read_manifest",
    "select_rows",
]
