"""The keyword tokenizer: accents, case and CJK runs."""

from __future__ import annotations

from tierocr.index.tokens import MAX_TERM_CHARS, tokenize


def test_words_are_folded_so_a_query_without_accents_matches() -> None:
    assert tokenize("Café NAÏVE Straße") == ["cafe", "naive", "strasse"]


def test_cjk_runs_become_overlapping_pairs() -> None:
    assert tokenize("经济政策") == ["经济", "济政", "政策"]
    assert tokenize("한국 경제정책") == ["한국", "경제", "제정", "정책"]
    assert tokenize("税") == ["税"]


def test_punctuation_splits_and_overlong_runs_are_dropped() -> None:
    assert tokenize("e-mail: 2.5 mg/kg") == ["e", "mail", "2", "5", "mg", "kg"]
    assert tokenize("x" * (MAX_TERM_CHARS + 1) + " ok") == ["ok"]
