"""The threshold verdict: a page fails when any signal crosses its threshold (all in ``GateSettings``).

This is the gate's original rule, kept as ``gate.mode = "thresholds"`` and as the hard floors of the
calibrated gate (an inked page with nothing read always escalates, whatever the model says).
"""

from __future__ import annotations

from tierocr.config import GateSettings
from tierocr.document import Block, Page, QualityVerdict, Tier
from tierocr.quality.signals import Measurements, measure


def verdict_from(m: Measurements, settings: GateSettings) -> QualityVerdict:
    """Apply the thresholds; the verdict's ``signals`` holds each fired signal and its value."""
    signals: dict[str, float] = {}
    reasons: list[str] = []
    inked = m.ink_ratio is not None and m.ink_ratio >= settings.min_ink_ratio
    if inked and m.chars < settings.min_chars:
        signals["near_empty"] = float(m.chars)
        reasons.append(f"only {m.chars} characters read on a page with {m.ink_ratio:.1%} ink")
    elif inked and (m.ink_pixels_per_char or 0) > settings.max_ink_pixels_per_char:
        signals["ink_per_char"] = round(m.ink_pixels_per_char or 0, 1)
        reasons.append(f"{m.ink_pixels_per_char:.0f} dark pixels per character read: much ink left unread")
    if m.chars >= settings.min_garbage_chars and (m.garbage_ratio or 0) > settings.max_garbage_ratio:
        signals["garbage_ratio"] = round(m.garbage_ratio or 0, 4)
        reasons.append(f"{m.garbage_ratio:.0%} of characters are outside the configured languages' scripts")
    if (m.mojibake_ratio or 0) > settings.max_mojibake_ratio:
        signals["mojibake"] = round(m.mojibake_ratio or 0, 4)
        reasons.append(f"{m.mojibake_ratio:.0%} of characters are mis-decoded (mojibake, cid codes, U+FFFD)")
    if m.mean_confidence is not None and m.mean_confidence < settings.min_mean_confidence:
        signals["mean_confidence"] = round(m.mean_confidence, 4)
        reasons.append(f"mean line confidence {m.mean_confidence:.2f} < {settings.min_mean_confidence:.2f}")
    if m.quantile_confidence is not None and m.quantile_confidence < settings.min_quantile_confidence:
        signals["low_confidence"] = round(m.quantile_confidence, 4)
        reasons.append(
            f"{settings.confidence_quantile:.0%} of lines are below confidence {m.quantile_confidence:.2f}"
        )
    if m.repetition_share > 0:
        signals["repetition"] = round(m.repetition_share, 4)
        reasons.append(f"{m.repetition_share:.0%} of the text is one unit repeated (a loop)")
    if m.tabular_lines >= settings.table_min_lines:
        signals["collapsed_table"] = float(m.tabular_lines)
        reasons.append(f"{m.tabular_lines} numeric table rows read as plain text")
    if m.split_rows >= settings.split_rows_min:
        signals["split_rows"] = float(m.split_rows)
        reasons.append(f"{m.split_rows} rows of {settings.split_row_segments}+ pieces: columns read across")
    if m.formula_like_blocks:
        signals["formula_like"] = float(len(m.formula_like_blocks))
        reasons.append(f"{len(m.formula_like_blocks)} formula(s) read as plain text")
    if m.unstructured_tables:
        signals["table_without_html"] = float(len(m.unstructured_tables))
        reasons.append(f"{len(m.unstructured_tables)} table region(s) without cell structure")
    if m.formulas_without_latex:
        signals["formula_without_latex"] = float(len(m.formulas_without_latex))
        reasons.append(f"{len(m.formulas_without_latex)} formula region(s) without LaTeX")
    return QualityVerdict(accepted=not signals, score=_score(m), signals=signals, reasons=reasons)


def _score(m: Measurements) -> float:
    """A rough 0..1 estimate of the classical read's quality, kept beside the verdict for reports."""
    if m.chars == 0:
        return 0.0
    score = m.mean_confidence if m.mean_confidence is not None else 1.0
    score *= 1 - (m.garbage_ratio or 0)
    score *= 1 - (m.mojibake_ratio or 0)
    score *= 1 - min(1.0, m.repetition_share)
    return round(max(0.0, min(1.0, score)), 4)


def assess_page(
    page: Page, settings: GateSettings, *, languages: list[str], ink_ratio: float | None = None
) -> QualityVerdict:
    """The gate for a whole page; ``ink_ratio`` is the share of dark pixels in the page image."""
    pixels = page.width * page.height
    m = measure(page.blocks, settings, languages=languages, ink_ratio=ink_ratio, pixels=pixels)
    return verdict_from(m, settings)


def assess_text(
    text: str,
    settings: GateSettings,
    *,
    languages: list[str],
    confidence: float | None = None,
    ink_ratio: float | None = None,
    pixels: float | None = None,
) -> QualityVerdict:
    """The gate for one region's text (``pixels``: the region's area, for the ink-per-character signal)."""
    from tierocr.document import Provenance

    block = Block(text=text, confidence=confidence, provenance=Provenance(tier=Tier.OCR, engine="gate"))
    m = measure([block], settings, languages=languages, ink_ratio=ink_ratio, pixels=pixels)
    return verdict_from(m, settings)


def failing_regions(page: Page, settings: GateSettings) -> dict[int, str]:
    """Block index → why that block should be re-read, for the region-level signals.

    Used when the page as a whole passed the page-level signals; keys are indices into ``page.blocks``.
    """
    m = measure(page.blocks, settings, languages=[], ink_ratio=None)
    regions: dict[int, str] = {}
    for i in m.unstructured_tables:
        regions[i] = "table_without_html"
    for i in m.formulas_without_latex:
        regions[i] = "formula_without_latex"
    if m.tabular_lines >= settings.table_min_lines:
        for i in m.tabular_blocks:
            regions.setdefault(i, "collapsed_table")
    for i in m.formula_like_blocks:
        regions.setdefault(i, "formula_like")
    if m.split_rows >= settings.split_rows_min:
        for i in m.split_blocks:
            regions.setdefault(i, "split_rows")
    if m.quantile_confidence is not None and m.quantile_confidence < settings.min_quantile_confidence:
        for i in m.low_confidence_blocks:
            regions.setdefault(i, "low_confidence")
    return regions
