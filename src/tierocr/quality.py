"""The quality gate: cheap signals that say whether a classical page (or region) is worth a VLM call.

A VLM read costs seconds to tens of seconds per page, the classical tier well under that, so the gate must
be cheap and must explain itself: every signal that fires lands in the verdict with its value, and the
reasons say what it means. A page fails when any signal crosses its threshold (all in ``GateSettings``).
Region-level signals (a table without structure, tabular lines read as prose, a few low-confidence blocks)
name the blocks they concern, so escalation can re-read those crops instead of the whole page.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from tierocr.config import GateSettings
from tierocr.document import Block, BlockKind, Page, QualityVerdict, Tier
from tierocr.engines.vlm_normalize import find_repetitions

if TYPE_CHECKING:
    from PIL import Image

#: Language code → Unicode script name prefixes (as in ``unicodedata.name``) its text is written in.
#: Latin letters are allowed for every language: numbers, units, names and URLs are Latin everywhere.
_SCRIPTS = MappingProxyType(
    {
        "ch_sim": ("CJK", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH", "BOPOMOFO"),
        "ch_tra": ("CJK", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH", "BOPOMOFO"),
        "zh": ("CJK", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH", "BOPOMOFO"),
        "chi_sim": ("CJK", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH"),
        "ja": ("CJK", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH", "HIRAGANA", "KATAKANA"),
        "ko": ("HANGUL", "CJK", "FULLWIDTH", "HALFWIDTH"),
        "ru": ("CYRILLIC",),
        "uk": ("CYRILLIC",),
        "bg": ("CYRILLIC",),
        "sr": ("CYRILLIC",),
        "el": ("GREEK",),
        "ar": ("ARABIC",),
        "fa": ("ARABIC",),
        "ur": ("ARABIC",),
        "he": ("HEBREW",),
        "hi": ("DEVANAGARI",),
        "mr": ("DEVANAGARI",),
        "ne": ("DEVANAGARI",),
        "th": ("THAI",),
        "ta": ("TAMIL",),
        "bn": ("BENGALI",),
    }
)
_ALWAYS = ("LATIN",)

#: UTF-8 read as cp1252/latin-1: the first byte of a two-byte sequence shows up as one of these, followed
#: by a character from the 0x80-0xBF range. Matching the pair keeps legitimate "Ã" or "â" words clean.
_MOJIBAKE = re.compile(
    "[ÃÂâÅÄ]["
    "\u0080-\u00bf\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac"
    "\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u02c6\u02dc\u2122]"
)
_CID = re.compile(r"\(cid:\d+\)")
_CURRENCY = frozenset({"$", "€", "£", "¥", "%", "US$"})
_NUMERIC = re.compile(r"^[(\-+−]?[$€£¥%]?\d[\d.,:/\-]*%?\)?$")


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


def allowed_prefixes(languages: list[str]) -> tuple[str, ...]:
    prefixes: list[str] = list(_ALWAYS)
    for lang in languages:
        prefixes.extend(_SCRIPTS.get(lang.lower().replace("-", "_"), ()))
    return tuple(dict.fromkeys(prefixes))


def _is_garbage(ch: str, prefixes: tuple[str, ...]) -> bool:
    """A character no page in the configured languages should be made of.

    ASCII and general punctuation, digits, currency and maths are neutral; letters and marks must belong
    to an allowed script; replacement, control, private-use and unassigned characters always count.
    """
    if ch.isascii():
        return not ch.isprintable() and not ch.isspace()
    category = unicodedata.category(ch)
    if ch == "\ufffd" or category in ("Cc", "Cf", "Co", "Cn", "Cs"):
        return True
    if category[0] in "LM":
        name = unicodedata.name(ch, "")
        return not name.startswith(prefixes)
    if category[0] in "NPZ" or category in ("Sc", "Sm", "Sk"):
        return False
    # Other symbols (So): common ones in Latin-1 and letterlike/number forms are fine, dingbats are noise.
    return not ("\u00a0" <= ch <= "\u00ff" or "\u2100" <= ch <= "\u218f" or "\u2190" <= ch <= "\u21ff")


def garbage_ratio(text: str, languages: list[str]) -> float:
    prefixes = allowed_prefixes(languages)
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(_is_garbage(c, prefixes) for c in chars) / len(chars)


def mojibake_ratio(text: str) -> float:
    """Share of characters that are replacement/control/private-use, mis-decoded UTF-8 or ``(cid:N)``."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Cc", "Co", "Cn"))
    bad += 2 * len(_MOJIBAKE.findall(text))
    bad += sum(len(m) for m in _CID.findall(text))
    return min(1.0, bad / len(chars))


def tabular_rows(line: str, settings: GateSettings) -> int:
    """How many table rows that lost their columns one line of text holds.

    A line of mostly numeric tokens is one row; a text layer or a paragraph grouper may also glue a
    whole table into one line ("Cost of revenue $ 178 $ 141 $ 138 Research 3,423 2,532 1,892 ..."), where
    each run of ``table_min_run`` consecutive numbers is a row. Bare currency signs are skipped.
    """
    tokens = [t for t in line.split() if t not in _CURRENCY]
    numeric = [bool(_NUMERIC.match(t)) for t in tokens]
    runs = run = 0
    for is_number in numeric:
        run = run + 1 if is_number else 0
        runs += run == settings.table_min_run
    share = sum(numeric) / max(1, len(tokens))
    if len(tokens) >= settings.table_min_tokens and share >= settings.table_numeric_share:
        return max(1, runs)
    return runs


def is_formula_like(text: str, settings: GateSettings) -> bool:
    """OCR text of a formula: an equation sign and many maths symbols or Greek letters.

    Classical OCR flattens a formula into a line of symbols; the VLM's formula task gives LaTeX.
    """
    chars = [c for c in text if not c.isspace()]
    if len(chars) < settings.formula_min_chars or not any(c in "=<>≤≥≈" for c in chars):
        return False
    maths = sum(1 for c in chars if c in "^_\\" or unicodedata.category(c) == "Sm" or _greek(c))
    return maths / len(chars) >= settings.formula_symbol_share


def _greek(ch: str) -> bool:
    return not ch.isascii() and unicodedata.name(ch, "").startswith("GREEK")


def _pieces(row: str) -> int:
    return sum(1 for piece in row.split("  ") if piece.strip())


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
            split = sum(1 for r in rows if _pieces(r) >= settings.split_row_segments)
            if is_formula_like(block.text, settings):
                m.formula_like_blocks.append(index)
        if split:
            m.split_rows += split
            m.split_blocks.append(index)
        if block.confidence is not None and block.confidence < settings.min_quantile_confidence:
            m.low_confidence_blocks.append(index)
    return m


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
