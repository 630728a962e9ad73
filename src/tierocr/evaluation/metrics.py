"""Text metrics over already-normalised strings.

The headline number is the normalised edit distance NED = Levenshtein(gt, pred) / max(len(gt), len(pred)),
OmniDocBench's convention: it lies in [0, 1] whatever the lengths, so a run-away output cannot score
worse than "everything wrong" and pooled means stay comparable across documents. The Docling-style
CER (distance / len(gt)) is reported beside it because some sources state their thresholds that way,
and a bag-of-words F1 because some references (receipt segments, zoned transcripts) fix no reading order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein


def edit_distance(reference: str, hypothesis: str) -> int:
    return int(Levenshtein.distance(reference, hypothesis))


def normalized_edit_distance(reference: str, hypothesis: str) -> float:
    """Levenshtein distance divided by the longer length; two empty strings are identical (0.0)."""
    longest = max(len(reference), len(hypothesis))
    if longest == 0:
        return 0.0
    return edit_distance(reference, hypothesis) / longest


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance divided by the reference length (can exceed 1 for over-long output)."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return edit_distance(reference, hypothesis) / len(reference)


@dataclass(frozen=True, slots=True)
class WordScores:
    precision: float
    recall: float
    f1: float


def word_bag_scores(reference: str, hypothesis: str) -> WordScores:
    """Case-insensitive, order-insensitive word overlap (SROIE-style), as multiset precision/recall."""
    ref = Counter(reference.casefold().split())
    hyp = Counter(hypothesis.casefold().split())
    if not ref and not hyp:
        return WordScores(1.0, 1.0, 1.0)
    common = sum((ref & hyp).values())
    precision = common / sum(hyp.values()) if hyp else 0.0
    recall = common / sum(ref.values()) if ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return WordScores(precision, recall, f1)
