"""Text metrics on cases whose answer is known by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierocr.evaluation.metrics import (
    character_error_rate,
    normalized_edit_distance,
    word_bag_scores,
)


def test_identical_text_has_zero_distance() -> None:
    assert normalized_edit_distance("hello world", "hello world") == 0.0
    assert normalized_edit_distance("", "") == 0.0


def test_known_edit_counts() -> None:
    # kitten -> sitting: 3 edits, longer string has 7 characters
    assert normalized_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert character_error_rate("kitten", "sitting") == pytest.approx(3 / 6)


def test_ned_is_bounded_by_one_for_runaway_output() -> None:
    assert normalized_edit_distance("abc", "x" * 100) == 1.0
    assert character_error_rate("abc", "x" * 100) > 1.0
    assert normalized_edit_distance("abc", "") == 1.0


def test_word_bag_is_case_and_order_insensitive() -> None:
    scores = word_bag_scores("TOTAL 12.00 CASH", "cash total 12.00")
    assert scores.f1 == 1.0
    half = word_bag_scores("a b c d", "a b")
    assert half.precision == 1.0
    assert half.recall == 0.5


def test_all_capitals_reference_is_compared_without_case(tmp_path: Path) -> None:
    from tierocr.evaluation.corpus import read_manifest
    from tierocr.evaluation.scoring import load_groundtruth

    (tmp_path / "r.txt").write_text("TOTAL RM 12.00\nTHANK YOU\n")
    (tmp_path / "r.jpg").write_bytes(b"x")
    header = "id\tkind\tfile\tgroundtruth_file\tgroundtruth_format\tlanguage\tcontent\n"
    (tmp_path / "manifest.tsv").write_text(header + "r\timage\tr.jpg\tr.txt\ttxt\ten\tscanned\n")
    (row,) = read_manifest(tmp_path)
    truth = load_groundtruth(row)
    assert truth.score("Total RM 12.00\nThank you").score == 0.0
    assert (truth.score("Total RM 15.00\nThank you").score or 0.0) > 0.0
