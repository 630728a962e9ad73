"""From a page's raw measurements to the features of the calibrated gate.

The gate stores every raw measurement on the page (``QualityVerdict.measurements``: fired or not, all of
them), and the evaluation saves them with each page's label; the model's features are computed from those
raw values here, at run time and when fitting alike. So a refit needs no OCR, only a saved report, and a
feature can be reshaped (a log, a complement) without measuring anything again. A feature whose raw value
is missing (no image, no second engine, no layout diagnostics) is ``None`` and enters the model at the
training mean, i.e. neutrally.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType

#: Prefix of the page's own stage diagnostics (``Page.diagnostics``) among the measurements.
DIAGNOSTIC_PREFIX = "diag."
#: Prefix of the threshold signals that fired (their values), kept so a refit can choose hard floors.
THRESHOLD_PREFIX = "fired."

Raw = Mapping[str, float]


def _get(raw: Raw, key: str) -> float | None:
    value = raw.get(key)
    return None if value is None or not math.isfinite(value) else float(value)


def _log1p(key: str) -> Callable[[Raw], float | None]:
    def feature(raw: Raw) -> float | None:
        value = _get(raw, key)
        return None if value is None else math.log1p(max(0.0, value))

    return feature


def _log1p_minus_one(key: str) -> Callable[[Raw], float | None]:
    def feature(raw: Raw) -> float | None:
        value = _get(raw, key)
        return None if value is None else math.log1p(max(0.0, value - 1.0))

    return feature


def _complement(key: str) -> Callable[[Raw], float | None]:
    def feature(raw: Raw) -> float | None:
        value = _get(raw, key)
        return None if value is None else 1.0 - value

    return feature


def _plain(key: str) -> Callable[[Raw], float | None]:
    return lambda raw: _get(raw, key)


def _formulas(raw: Raw) -> float | None:
    return math.log1p(raw.get("formula_like_blocks", 0.0) + raw.get("formulas_without_latex", 0.0))


def _handwriting(raw: Raw) -> float | None:
    """How far the ink's edges are from print's axis-aligned strokes (0: print-like)."""
    share = _get(raw, "stroke_axis_share")
    # Print keeps a quarter or more of its edge energy on the axes (0.4 for clean type, 0.18 for worn
    # Fraktur); pen strokes fall below that.
    return None if share is None else max(0.0, 0.25 - share)


#: Every feature the model may use: name → function of the raw measurements. A fitted model names the
#: subset it uses; names are part of the model file, so renaming one needs a refit.
FEATURES: Mapping[str, Callable[[Raw], float | None]] = MappingProxyType(
    {
        "ocr_share": _plain("ocr_char_share"),
        "near_empty": _plain("near_empty"),
        "log_ink_per_char": _log1p("ink_pixels_per_char"),
        "garbage": _plain("garbage_ratio"),
        "mojibake": _plain("mojibake_ratio"),
        "low_mean_confidence": _complement("mean_confidence"),
        "low_ocr_confidence": _complement("ocr_confidence"),
        "low_tail_confidence": _complement("quantile_confidence"),
        "confidence_spread": _plain("confidence_spread"),
        "repetition": _plain("repetition_share"),
        "collapsed_table_rows": _log1p("tabular_lines"),
        "split_rows": _log1p("split_rows"),
        "formulas": _formulas,
        "unstructured_tables": _log1p("unstructured_tables"),
        "agreement_distance": _plain("agreement_distance"),
        "agreement_max_distance": _plain("agreement_max_distance"),
        "agreement_disputed_share": _plain("agreement_disputed_share"),
        "text_layer_share": _plain("text_layer_char_share"),
        "low_confidence_chars": _plain("low_confidence_char_share"),
        "handwritten_chars": _plain("handwritten_char_share"),
        "figure_area": _plain("figure_area_share"),
        # What the page holds, beside how well it was read: tables, formulas and columns are where a
        # classical read most often goes wrong even when every line is read right.
        "table_area": _plain("table_area_share"),
        "formula_regions": _log1p("formula_blocks"),
        "columns": _log1p_minus_one("columns"),
        "furniture": _log1p("furniture_blocks"),
        "log_text_density": _log1p("chars_per_megapixel"),
        "table_word_mismatch": _plain("table_word_mismatch"),
        "table_doubt": _plain("table_doubt"),
        "order_ambiguity": _plain("order_ambiguity"),
        "order_vs_geometry": _plain("order_vs_geometry"),
        "gutter_crossing": _plain("gutter_crossing"),
        "handwriting": _handwriting,
        "layout_word_loss": _complement(DIAGNOSTIC_PREFIX + "layout_word_recall"),
        "layout_fallback_regions": _log1p(DIAGNOSTIC_PREFIX + "layout_fallback_regions"),
        "layout_order_ambiguity": _plain(DIAGNOSTIC_PREFIX + "order_ambiguity"),
    }
)

#: The features a refit chooses from, by default: how well the page was read (the recogniser's confidence,
#: a second engine's disagreement, script garbage), the new signals of fluent misreads (handwriting, table
#: doubt, order), and what the page holds (table area, formula regions, columns). Left out: signals whose
#: hard floors already act, and near-duplicates that only add variance on a corpus of some fifty pages
#: (on the dev corpus, offering all features cost 0.19 more escalation at the same out-of-sample recall).
DEFAULT_CANDIDATES = (
    "low_ocr_confidence",
    "agreement_distance",
    "agreement_max_distance",
    "handwriting",
    "table_doubt",
    "garbage",
    "gutter_crossing",
    "order_vs_geometry",
    "table_area",
    "formula_regions",
    "columns",
    "layout_word_loss",
    "layout_fallback_regions",
    "layout_order_ambiguity",
)

#: Features whose direction is not "larger is worse" (the mirror of ``ocr_share``, a density): kept in the
#: measurements, not offered to the fit, whose weights must all say "more of this, more likely bad".
UNDIRECTED = frozenset({"text_layer_share", "log_text_density"})

#: Features that concern identifiable regions (a table, a formula): when only these push a page over the
#: threshold, its failing regions are re-read instead of the whole page.
REGION_FEATURES = frozenset(
    {"formulas", "unstructured_tables", "table_word_mismatch", "table_doubt", "collapsed_table_rows"}
)

#: The value a region feature takes on a page whose regions are all fine.
CLEAN_RAW: Mapping[str, float] = MappingProxyType(
    {
        "formula_like_blocks": 0.0,
        "formulas_without_latex": 0.0,
        "unstructured_tables": 0.0,
        "table_word_mismatch": 0.0,
        "table_doubt": 0.0,
        "tabular_lines": 0.0,
    }
)


def feature_values(raw: Raw, names: list[str] | tuple[str, ...]) -> list[float | None]:
    """The named features of one page (unknown names raise: a model file from a newer tierocr)."""
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise KeyError(f"gate model uses unknown feature(s): {', '.join(unknown)}")
    return [FEATURES[n](raw) for n in names]
