"""The threshold signals of the quality gate, measured over a page's (or one region's) blocks.

A VLM read costs seconds to tens of seconds per page, the classical tier well under that, so the gate must
be cheap and must explain itself: every value is kept in :class:`Measurements` (fired or not, for the
calibrated model and its fitting), and the thresholds in ``GateSettings`` turn them into signals.
Region-level signals (a table without structure, tabular lines read as prose, a few low-confidence blocks)
name the blocks they concern, so escalation can re-read those crops instead of the whole page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tierocr.config import GateSettings
from tierocr.document import Block, BlockKind, Tier
from tierocr.engines.vlm_normalize import find_repetitions
from tierocr.quality.text import garbage_ratio, is_formula_like, mojibake_ratio, row_pieces, tabular_rows

if TYPE_CHECKING:
    from PIL import Image


@dataclass(slots=True)
class Measurements:
    """Every signal's value, fired or not; the calibration reads these, the verdict only what fired."""

    chars: int = 0
    ink_ratio: float | None = None
    ink_pixels_per_char: float | None = None
    garbage_ratio: float | None = None
    mojibake_ratio: float | None = None
    mean_confidence: float | None = None
    quantile_confidence: float | None = None
    tabular_lines: int = 0
    split_rows: int = 0
    repetition_share: float = 0.0
    #: Indices of blocks that each region-level signal points at.
    tabular_blocks: list[int] = field(default_factory=list)
    split_blocks: list[int] = field(default_factory=list)
    formula_like_blocks: list[int] = field(default_factory=list)
    unstructured_tables: list[int] = field(default_factory=list)
    formulas_without_latex: list[int] = field(default_factory=list)
    low_confidence_blocks: list[int] = field(default_factory=list)


#: Signals that say the page as a whole was misread; the others concern identifiable regions.
PAGE_SIGNALS = frozenset(
    {"near_empty", "ink_per_char", "garbage_ratio", "mojibake", "mean_confidence", "repetition"}
)
REGION_SIGNALS = frozenset(
    {
        "collapsed_table",
        "split_rows",
        "formula_like",
        "table_without_html",
        "formula_without_latex",
        "low_confidence",
    }
)


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile: at least a share ``q`` of the values are at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _confidences(blocks: list[Block]) -> list[tuple[float, int]]:
    """(confidence, weight) per line where blocks carry line confidences, else per block."""
    out: list[tuple[float, int]] = []
    for block in blocks:
        lines = block.attributes.get("line_confidences")
        if isinstance(lines, list) and lines:
            out.extend((float(c), 1) for c in lines if isinstance(c, int | float))
        elif block.confidence is not None:
            out.append((block.confidence, max(1, len(block.text))))
    return out


def measure(
    blocks: list[Block],
    settings: GateSettings,
    *,
    languages: list[str],
    ink_ratio: float | None = None,
    pixels: float | None = None,
) -> Measurements:
    """Compute every signal over some blocks (a page's, or one region's)."""
    text = "\n".join(b.text for b in blocks if b.text)
    m = Measurements(chars=sum(1 for c in text if not c.isspace()), ink_ratio=ink_ratio)
    if ink_ratio is not None and pixels:
        m.ink_pixels_per_char = ink_ratio * pixels / max(1, m.chars)
    m.garbage_ratio = garbage_ratio(text, languages)
    m.mojibake_ratio = mojibake_ratio(text)
    confs = _confidences(blocks)
    if confs:
        total = sum(w for _, w in confs)
        m.mean_confidence = sum(c * w for c, w in confs) / total
        if len(confs) >= settings.min_confidence_lines:
            m.quantile_confidence = _quantile([c for c, _ in confs], settings.confidence_quantile)
    runs = find_repetitions(
        text[:50_000],
        min_repeats=settings.repetition_min_repeats,
        max_period=settings.repetition_max_period,
        min_span=settings.repetition_min_span,
    )
    m.repetition_share = sum(r.end - r.start for r in runs) / max(1, len(text))
    for index, block in enumerate(blocks):
        if block.kind is BlockKind.TABLE:
            if not block.html and settings.require_table_html:
                m.unstructured_tables.append(index)
            continue
        if block.kind is BlockKind.FORMULA:
            if not block.latex and settings.require_formula_latex:
                m.formulas_without_latex.append(index)
            continue
        rows = block.text.splitlines()
        tabular = sum(tabular_rows(line, settings) for line in rows)
        if tabular:
            m.tabular_lines += tabular
            m.tabular_blocks.append(index)
        # The layout joins the OCR boxes of one visual row with two spaces: many boxes per row mean
        # columns of a table, or of a page whose columns were read across. In a PDF text layer the
        # pieces are glyph runs (superscripts, maths), so this signal is for OCR text only.
        split = 0
        if block.provenance.tier is not Tier.TEXT_LAYER:
            split = sum(1 for r in rows if row_pieces(r) >= settings.split_row_segments)
            if is_formula_like(block.text, settings):
                m.formula_like_blocks.append(index)
        if split:
            m.split_rows += split
            m.split_blocks.append(index)
        if block.confidence is not None and block.confidence < settings.min_quantile_confidence:
            m.low_confidence_blocks.append(index)
    return m


def ink_ratio(image: Image.Image, threshold: int) -> float:
    """Share of dark pixels (grey level below ``threshold``) in a page image, measured on a thumbnail.

    The gate compares this with the characters read: a page with ink but no text was not read.
    """
    import numpy as np

    grey = image.convert("L")
    if max(grey.size) > 1000:
        grey = grey.copy()
        grey.thumbnail((1000, 1000))
    return float((np.asarray(grey) < threshold).mean())
