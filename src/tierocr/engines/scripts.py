"""Writing systems: which script a text is in, which languages write it, and who reads them.

RapidOCR's bundled recogniser knows Latin, Chinese and Japanese characters only; every other script is
read by Tesseract with Debian's ``tesseract-ocr-<lang>`` data. This module is the one table of those
facts, shared by the engine router, the Tesseract engine and their warnings.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType


class Script(StrEnum):
    LATIN = "Latin"
    HAN = "Han"
    KANA = "Kana"
    ARABIC = "Arabic"
    HEBREW = "Hebrew"
    HANGUL = "Hangul"
    CYRILLIC = "Cyrillic"
    GREEK = "Greek"
    DEVANAGARI = "Devanagari"
    THAI = "Thai"


#: Scripts RapidOCR's bundled recognition model has the characters for.
RAPID_SCRIPTS = frozenset({Script.LATIN, Script.HAN, Script.KANA})

#: Unicode blocks of each script's letters (start, end inclusive); marks and digits are not counted.
_RANGES: tuple[tuple[int, int, Script], ...] = (
    (0x0041, 0x005A, Script.LATIN),
    (0x0061, 0x007A, Script.LATIN),
    (0x00C0, 0x024F, Script.LATIN),
    (0x0370, 0x03FF, Script.GREEK),
    (0x0400, 0x052F, Script.CYRILLIC),
    (0x0590, 0x05FF, Script.HEBREW),
    (0x0600, 0x06FF, Script.ARABIC),
    (0x0750, 0x077F, Script.ARABIC),
    (0x08A0, 0x08FF, Script.ARABIC),
    (0x0900, 0x097F, Script.DEVANAGARI),
    (0x0E00, 0x0E7F, Script.THAI),
    (0x1100, 0x11FF, Script.HANGUL),
    (0x1E00, 0x1EFF, Script.LATIN),
    (0x1F00, 0x1FFF, Script.GREEK),
    (0x3040, 0x30FF, Script.KANA),
    (0x3130, 0x318F, Script.HANGUL),
    (0x3400, 0x4DBF, Script.HAN),
    (0x4E00, 0x9FFF, Script.HAN),
    (0xAC00, 0xD7AF, Script.HANGUL),
    (0xF900, 0xFAFF, Script.HAN),
    (0xFB1D, 0xFB4F, Script.HEBREW),
    (0xFB50, 0xFDFF, Script.ARABIC),
    (0xFE70, 0xFEFF, Script.ARABIC),
)
_STARTS = [start for start, _, _ in _RANGES]


def script_of(ch: str, *, letters_only: bool = True) -> Script | None:
    """The script of one letter (or, with ``letters_only=False``, of any character in the script's
    blocks, vowel signs included); None for digits, punctuation and scripts not listed."""
    if letters_only and not ch.isalpha():
        return None
    code = ord(ch)
    k = bisect.bisect_right(_STARTS, code) - 1
    if k >= 0 and code <= _RANGES[k][1]:
        return _RANGES[k][2]
    return None


def script_counts(text: str) -> Counter[Script]:
    return Counter(s for s in map(script_of, text) if s is not None)


def dominant_script(text: str, min_share: float = 0.5) -> tuple[Script | None, float]:
    """The script most of the text's letters are in, and its share; None when no script has
    ``min_share`` of the letters (mixed, or no letters at all)."""
    counts = script_counts(text)
    total = sum(counts.values())
    if not total:
        return None, 0.0
    script, count = counts.most_common(1)[0]
    share = count / total
    return (script if share >= min_share else None), share


@dataclass(frozen=True, slots=True)
class Language:
    """One language: its Tesseract data name and the script it is written in."""

    tesseract: str
    script: Script

    @property
    def debian_package(self) -> str:
        return f"tesseract-ocr-{self.tesseract.replace('_', '-')}"


_L = Language
#: Our language codes (RapidOCR/EasyOCR conventions, ISO 639-1) and Tesseract's own names.
LANGUAGES = MappingProxyType(
    {
        "en": _L("eng", Script.LATIN),
        "de": _L("deu", Script.LATIN),
        "fr": _L("fra", Script.LATIN),
        "es": _L("spa", Script.LATIN),
        "it": _L("ita", Script.LATIN),
        "pt": _L("por", Script.LATIN),
        "nl": _L("nld", Script.LATIN),
        "ch": _L("chi_sim", Script.HAN),
        "ch_sim": _L("chi_sim", Script.HAN),
        "zh": _L("chi_sim", Script.HAN),
        "ch_tra": _L("chi_tra", Script.HAN),
        "ja": _L("jpn", Script.KANA),
        "ar": _L("ara", Script.ARABIC),
        "fa": _L("fas", Script.ARABIC),
        "ur": _L("urd", Script.ARABIC),
        "he": _L("heb", Script.HEBREW),
        "iw": _L("heb", Script.HEBREW),
        "ko": _L("kor", Script.HANGUL),
        "ru": _L("rus", Script.CYRILLIC),
        "uk": _L("ukr", Script.CYRILLIC),
        "bg": _L("bul", Script.CYRILLIC),
        "sr": _L("srp", Script.CYRILLIC),
        "el": _L("ell", Script.GREEK),
        "hi": _L("hin", Script.DEVANAGARI),
        "mr": _L("mar", Script.DEVANAGARI),
        "ne": _L("nep", Script.DEVANAGARI),
        "th": _L("tha", Script.THAI),
    }
)
_BY_TESSERACT = {lang.tesseract: lang for lang in LANGUAGES.values()}

#: Languages that read a script RapidOCR cannot read, for pages whose language no configured code names.
#: The first installed one is the script's voice in the identification read; which one then reads the
#: page is :func:`pick_language`'s choice.
SCRIPT_LANGUAGES = MappingProxyType(
    {
        Script.ARABIC: ("fas", "ara"),
        Script.HEBREW: ("heb",),
        Script.HANGUL: ("kor",),
        Script.CYRILLIC: ("rus",),
        Script.GREEK: ("ell",),
        Script.DEVANAGARI: ("hin",),
        Script.THAI: ("tha",),
    }
)


#: Letters the Persian model writes on Persian text and not on Arabic (pe, che, zhe, gaf, and the
#: zero-width non-joiner of compounds such as mi-khanad), and that it writes on Arabic text only (ta
#: marbuta, alef with hamza below). Arabic and Persian share the script, and Tesseract's Arabic model is
#: the more confident on both, so confidence cannot choose; these letters can.
_PERSIAN_MARKS = frozenset("\u067e\u0686\u0698\u06af\u200c")
_ARABIC_MARKS = frozenset("\u0629\u0625")


def pick_language(script: Script, text: str, installed: list[str]) -> str:
    """The installed language to read a page in ``script`` with, from its voice's reading ``text``."""
    if script is Script.ARABIC and {"fas", "ara"} <= set(installed):
        persian = sum(ch in _PERSIAN_MARKS for ch in text)
        arabic = sum(ch in _ARABIC_MARKS for ch in text)
        return "fas" if persian > arabic else "ara"
    if "ara" in installed and script is Script.ARABIC:
        return "ara"
    return installed[0]


def language(code: str) -> Language | None:
    """The language a configured code names (``fa`` or ``fas``); None when we do not know it."""
    return LANGUAGES.get(code) or _BY_TESSERACT.get(code)


def rapid_reads(code: str) -> bool:
    """Whether RapidOCR's bundled model reads this configured language."""
    lang = language(code)
    return lang is not None and lang.script in RAPID_SCRIPTS


def has_tesseract_data(tessdata: Path | None, name: str) -> bool:
    return tessdata is not None and (tessdata / f"{name}.traineddata").is_file()
