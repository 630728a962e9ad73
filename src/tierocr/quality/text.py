"""Text-only signals: characters outside the configured scripts, mis-decoded text, tables and formulas
flattened into prose. Pure functions of a string, shared by the page and region gates.
"""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType

from tierocr.config import GateSettings

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


#: A script holding this share of a page's letters is the page's own script, configured or not.
_DOMINANT_SCRIPT = 0.6
#: Scripts only the engine router's Tesseract writes (RapidOCR's model has none of their letters): a page
#: in one of them was read so on purpose. Han or Kana on a page configured for Latin may be RapidOCR
#: hallucinating its home scripts over a misread page, and stays suspect.
_ROUTED_SCRIPTS = frozenset({"HANGUL", "ARABIC", "HEBREW", "CYRILLIC", "GREEK", "DEVANAGARI", "THAI"})


def dominant_script(text: str) -> str | None:
    """The Unicode script (name prefix, e.g. ``HANGUL``, ``ARABIC``) most of the text's letters are in,
    when one holds :data:`_DOMINANT_SCRIPT` of them; None for mixed or letterless text."""
    counts: dict[str, int] = {}
    total = 0
    for ch in text:
        if not unicodedata.category(ch).startswith("L"):
            continue
        total += 1
        script = unicodedata.name(ch, "").split(" ", 1)[0]
        counts[script] = counts.get(script, 0) + 1
    if not total:
        return None
    script, count = max(counts.items(), key=lambda kv: kv[1])
    return script if count >= _DOMINANT_SCRIPT * total else None


def garbage_ratio(text: str, languages: list[str]) -> float:
    """Share of characters that no page in the configured languages, or in the page's own dominant
    script, is made of: a page the engine router read in a script nobody configured (Korean, Arabic...)
    is not garbage when it is consistently in that script; letters scattered over several scripts are."""
    prefixes = allowed_prefixes(languages)
    own = dominant_script(text)
    if own in _ROUTED_SCRIPTS and not own.startswith(prefixes):
        prefixes = (*prefixes, own)
    chars = [c for c in text if not c.isspace() and c != "\u200c"]  # ZWNJ is part of Persian spelling
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


def row_pieces(row: str) -> int:
    return sum(1 for piece in row.split("  ") if piece.strip())
