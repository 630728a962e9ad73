"""Text normalisation applied to both sides before a text metric.

The corpus mixes conventions (Docling and OmniDocBench Markdown, plain transcripts, diplomatic
historical transcriptions), and an OCR system cannot be expected to reproduce a reference's markup or
its typographic choices. So before comparing, both the reference and the output go through the same
steps: Markdown/HTML markup is removed (cell text of tables kept), typographic variants that OCR engines
and annotators pick arbitrarily (curly quotes, dash kinds, full-width ASCII, historical letter forms)
are folded to one form, and whitespace is collapsed. What is left is the text a reader sees.
"""

from __future__ import annotations

import html
import re
import unicodedata
from types import MappingProxyType

#: Typographic variants folded to ASCII, as OmniDocBench and olmOCR-bench do before comparing.
_CHAR_FOLDS = MappingProxyType(
    {
        "\u2018": "'",  # left single quote
        "\u2019": "'",  # right single quote
        "\u201a": "'",  # single low-9 quote
        "\u201b": "'",  # single high-reversed-9 quote
        "\u2032": "'",  # prime
        "\u201c": '"',  # left double quote
        "\u201d": '"',  # right double quote
        "\u201e": '"',  # double low-9 quote
        "\u201f": '"',  # double high-reversed-9 quote
        "\u2033": '"',  # double prime
        "\u00ab": '"',  # guillemets
        "\u00bb": '"',
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2015": "-",  # horizontal bar
        "\u2212": "-",  # minus sign
        "\u2e17": "-",  # double oblique hyphen (Fraktur line-end hyphen)
        "\u00ac": "-",  # not sign, used as line-end hyphen in some transcriptions
        "\u2026": "...",  # ellipsis
        "\u00b5": "\u03bc",  # micro sign -> Greek mu
        "\u017f": "s",  # long s
        "\ufb05": "st",  # long s + t ligature
    }
)

#: MUFI private-use letters used in German prints, mapped to the modern letter a reader would type.
#: (e above a vowel is the older form of the umlaut.) Any other private-use character is dropped.
_MUFI_FOLDS = MappingProxyType(
    {
        "\ue42c": "ä",  # a with small letter e above
        "\ue644": "ö",  # o with small letter e above
        "\ue72b": "ü",  # u with small letter e above
    }
)

#: Combining small letter e above a vowel (U+0364) is the same old umlaut in decomposed form.
_COMBINING_E = "\u0364"
_UMLAUT_BASES = MappingProxyType({"a": "ä", "o": "ö", "u": "ü", "A": "Ä", "O": "Ö", "U": "Ü"})

_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")

_WS = re.compile(r"\s+")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_CELL_END = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
_HTML_BLOCK_END = re.compile(r"</(?:tr|p|div|li|h[1-6]|table|thead|tbody|caption)\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_MD_BULLET = re.compile(r"^\s*[-*+\u2022\u25e6\u25aa]\s+")
_MD_FENCE = re.compile(r"^\s*(?:```|~~~)")
_MD_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_MD_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_MD_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=\S)(.+?)(?<=\S)\*(?![*\w])")
_MD_ITALIC_UNDERSCORE = re.compile(r"(?<![_\w])_(?=\S)(.+?)(?<=\S)_(?![_\w])")
_MD_CODE = re.compile(r"`+([^`]*)`+")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")
_CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")


def is_private_use(char: str) -> bool:
    return unicodedata.category(char) == "Co"


def fold_characters(text: str) -> str:
    """NFC, then typographic, full-width and historical variants folded; private-use glyphs dropped.

    Both sides get this, so folding never hides a real recognition error: it only removes choices
    (curly vs straight quote, ſ vs s) that the reference's annotators and the OCR engine make differently.
    """
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for char in text:
        if char == _COMBINING_E and out and out[-1] in _UMLAUT_BASES:
            out[-1] = _UMLAUT_BASES[out[-1]]
            continue
        if char in _INVISIBLE:
            continue
        folded = _CHAR_FOLDS.get(char) or _MUFI_FOLDS.get(char)
        if folded is not None:
            out.append(folded)
        elif "\uff01" <= char <= "\uff5e":  # full-width ASCII forms
            out.append(chr(ord(char) - 0xFEE0))
        elif char == "\u3000":
            out.append(" ")
        elif is_private_use(char):
            continue
        else:
            out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def collapse_whitespace(text: str) -> str:
    """One space between words; none between two CJK characters, where line breaks are layout only."""
    text = _WS.sub(" ", text).strip()
    return _CJK_GAP.sub("", text)


def strip_html(text: str) -> str:
    """HTML tags out, cell and block boundaries kept as whitespace, entities decoded."""
    text = _HTML_COMMENT.sub(" ", text)
    text = _HTML_BREAK.sub("\n", text)
    text = _HTML_CELL_END.sub(" ", text)
    text = _HTML_BLOCK_END.sub("\n", text)
    text = _HTML_TAG.sub("", text)
    return html.unescape(text)


def _strip_inline(line: str) -> str:
    line = _MD_IMAGE.sub(" ", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MD_CODE.sub(r"\1", line)
    for _ in range(2):  # nested emphasis such as ***x*** or **_x_**
        line = _MD_BOLD.sub(r"\2", line)
        line = _MD_ITALIC_STAR.sub(r"\1", line)
        line = _MD_ITALIC_UNDERSCORE.sub(r"\1", line)
    return line


def _is_table_separator(line: str) -> bool:
    return "|" in line and "-" in line and _MD_TABLE_SEPARATOR.match(line) is not None


def strip_markdown(text: str) -> str:
    """Markdown (and embedded HTML) reduced to the text a reader sees, one output line per input line.

    Headings, quotes, bullets, rules, code fences, emphasis, links and images go; table rows keep their
    cell text with the pipes replaced by spaces, and separator rows go. Ordered-list numbers stay, as
    they are printed on the page. Backslash escapes are resolved last so that an escaped ``\\*`` is text.
    """
    text = strip_html(text)
    lines: list[str] = []
    for raw in text.splitlines():
        if _MD_FENCE.match(raw) or _MD_RULE.match(raw) or _is_table_separator(raw):
            continue
        # Escaped characters are parked as placeholders so no markup rule below can consume them.
        line = _MD_ESCAPE.sub(lambda m: f"\x00{ord(m.group(1))}\x00", raw)
        if line.lstrip().startswith("|") or line.count("|") >= 2:
            line = line.replace("|", " ")
        line = _MD_HEADING.sub("", line)
        line = _MD_QUOTE.sub("", line)
        line = _MD_BULLET.sub("", line)
        line = _strip_inline(line)
        lines.append(_PLACEHOLDER.sub(lambda m: chr(int(m.group(1))), line))
    return "\n".join(lines)


def normalize_for_ned(text: str, *, markdown: bool = True) -> str:
    """The form both sides of a normalised edit distance are compared in."""
    if markdown:
        text = strip_markdown(text)
    return collapse_whitespace(fold_characters(text))
