"""Layout mode's promise, checked on every page: it may reorder the page's words, never lose or invent one.

The words a region-by-region read produces are compared, as a multiset, with the words of the lines the
page was read from (the text layer or the one full-page OCR pass). A region whose structure lost or added
words (a table builder that dropped a cell, a figure that swallowed a caption twice) falls back to its
plain lines in reading order, and the page records how well the whole read kept its words, for the gate
and for people reviewing it.

Words are compared the way the text is built: case and width folded, punctuation ignored, CJK characters
one by one (no spaces separate them), and a word joined across a line-end hyphen or a drop capital
("exam-" + "ple", "O" + "ver") matched to its two halves.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tierocr.document import Block, BlockKind, Provenance, Tier
from tierocr.layout.blocks import lines_to_blocks
from tierocr.layout.reading_order import Line

_TOKEN = re.compile(r"\w+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CHECK = Provenance(tier=Tier.NONE, engine="word-check")
#: Block kinds whose structure is given up (not the words) when a region falls back to plain lines.
_STRUCTURED = frozenset({BlockKind.TABLE, BlockKind.FIGURE})


def words(text: str) -> Counter[str]:
    """The multiset of words in ``text`` (CJK characters count one by one)."""
    counts: Counter[str] = Counter()
    for token in _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()):
        if _CJK.search(token):
            for piece in _CJK.split(token):
                if piece:
                    counts[piece] += 1
            counts.update(_CJK.findall(token))
        else:
            counts[token] += 1
    return counts


@dataclass(frozen=True, slots=True)
class WordBalance:
    """How the output's words compare with the source's: ``missing`` were dropped, ``extra`` added."""

    source: int
    output: int
    missing: int
    extra: int

    @property
    def recall(self) -> float:
        return 1.0 if not self.source else (self.source - self.missing) / self.source

    @property
    def precision(self) -> float:
        return 1.0 if not self.output else (self.output - self.extra) / self.output

    def keeps_words(self, tolerance: float, floor: int = 2) -> bool:
        """No more than ``tolerance`` of the words (and at least ``floor`` words) lost or added."""
        allowed = max(floor, int(tolerance * max(self.source, self.output)))
        return self.missing <= allowed and self.extra <= allowed


def balance(source: Iterable[str], output: Iterable[str]) -> WordBalance:
    """Compare the words of the source texts with those of the output texts."""
    have: Counter[str] = Counter()
    for text in source:
        have.update(words(text))
    got: Counter[str] = Counter()
    for text in output:
        got.update(words(text))
    missing = have - got
    extra = got - have
    # A word the output joined across a line end is the source's two halves.
    for word, count in list(extra.items()):
        for _ in range(count):
            split = next(
                (k for k in range(1, len(word)) if missing[word[:k]] > 0 and missing[word[k:]] > 0), None
            )
            if split is None:
                break
            missing[word[:split]] -= 1
            missing[word[split:]] -= 1
            extra[word] -= 1
    missing = +missing
    extra = +extra
    return WordBalance(
        source=sum(have.values()),
        output=sum(got.values()),
        missing=sum(missing.values()),
        extra=sum(extra.values()),
    )


def plain_text(lines: Sequence[Line], page_width: float, page_height: float) -> str:
    """Lines read as full-page mode reads them: paragraphs in reading order, columns one after another."""
    blocks = lines_to_blocks(list(lines), page_width, page_height, _CHECK)
    return "\n\n".join(b.text for b in blocks if b.text)


def keep_words(
    blocks: list[Block],
    owned: Sequence[Sequence[Line]],
    source: Tier,
    *,
    page_width: float,
    page_height: float,
    tolerance: float,
) -> dict[str, float]:
    """Check each block against the lines its region owns, in place; returns the page's diagnostics.

    Only blocks read from the page's own lines (``source``: the text layer or the page OCR, or nothing at
    all) are checked: a region re-read from its crop has other words by construction. A block that lost
    or added words is replaced by its lines as plain text; a formula keeps its glyphs for the VLM.
    """
    total_source = total_output = missing = extra = 0
    fallbacks = 0
    for k, (block, lines) in enumerate(zip(blocks, owned, strict=True)):
        if block.provenance.tier not in (source, Tier.NONE) or block.kind is BlockKind.FORMULA:
            continue
        texts = [ln.text for ln in lines]
        result = balance(texts, [block.text])
        if not result.keeps_words(tolerance) and lines:
            text = plain_text(lines, page_width, page_height)
            reason = f"lost {result.missing} and added {result.extra} of {result.source} words"
            kind = block.kind if block.kind not in _STRUCTURED else BlockKind.TEXT
            blocks[k] = block.model_copy(
                update={
                    "kind": kind,
                    "text": text,
                    "html": None,
                    "provenance": Provenance(tier=source, engine=block.provenance.engine),
                    "attributes": {**block.attributes, "word_check": reason},
                }
            )
            fallbacks += 1
            result = balance(texts, [text])
        total_source += result.source
        total_output += result.output
        missing += result.missing
        extra += result.extra
    page = WordBalance(total_source, total_output, missing, extra)
    return {
        "layout_word_recall": round(page.recall, 4),
        "layout_word_precision": round(page.precision, 4),
        "layout_fallback_regions": float(fallbacks),
    }
