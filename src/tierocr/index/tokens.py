"""The one tokenizer of keyword search, the same whichever database stores the index.

Both backends store the terms this module makes and rank them with the same BM25 query, which is why
an index gives the same keyword hits in SQLite and in PostgreSQL. Words are NFKC-normalised, case-folded
and stripped of diacritics (a query typed without accents still matches); runs of Chinese, Japanese or
Korean script become overlapping character pairs, since those scripts do not separate words by spaces
(or, in Korean, glue endings onto them) and a whole run would only ever match itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

#: Han, kana, Hangul syllables and jamo, CJK punctuation excluded.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")
#: Longer runs (hashes, glued strings) are no words anyone searches for, and would bloat the term table.
MAX_TERM_CHARS = 64


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", folded)


def tokenize(text: str) -> list[str]:
    """Terms of ``text`` in order: folded words, and character bigrams inside CJK runs."""
    terms: list[str] = []
    # Hangul is decomposed by NFKD above; compose each match again so syllables stay whole.
    for match in _TOKEN.finditer(_fold(text)):
        run = unicodedata.normalize("NFC", match.group())
        if _IS_CJK.match(run):
            if len(run) == 1:
                terms.append(run)
            else:
                terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif len(run) <= MAX_TERM_CHARS:
            terms.append(run)
    return terms


def term_counts(text: str) -> Counter[str]:
    return Counter(tokenize(text))
