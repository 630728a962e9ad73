"""The quality gate: cheap signals that say whether a classical page (or region) is worth a VLM call.

``signals``/``text``: the threshold signals (near-empty, garbage, confidence, tables and formulas read
as prose...); ``verdict``: the threshold rule, which stays as the hard floors; ``agreement``, ``order``,
``structure``, ``handwriting``: the signals that see fluent misreads (two engines disagree, an ambiguous
reading order, an implausible table grid, handwriting); ``features``/``model``: the calibrated model
over all of them; ``judge``: the gate the pipeline runs.
"""

from __future__ import annotations

from tierocr.quality.judge import PageJudge
from tierocr.quality.model import GateModel
from tierocr.quality.signals import PAGE_SIGNALS, REGION_SIGNALS, Measurements, ink_ratio, measure
from tierocr.quality.text import (
    allowed_prefixes,
    garbage_ratio,
    is_formula_like,
    mojibake_ratio,
    tabular_rows,
)
from tierocr.quality.verdict import assess_page, assess_text, failing_regions, verdict_from

__all__ = [
    "PAGE_SIGNALS",
    "REGION_SIGNALS",
    "GateModel",
    "Measurements",
    "PageJudge",
    "allowed_prefixes",
    "assess_page",
    "assess_text",
    "failing_regions",
    "garbage_ratio",
    "ink_ratio",
    "is_formula_like",
    "measure",
    "mojibake_ratio",
    "tabular_rows",
    "verdict_from",
]
