"""The retrieval check: can a question made from a document's ground truth find the right page?

For each corpus document, questions are made from its ground truth, not from our own parse: exact
sentences, and keyword queries of each sentence's rarest words (the same words, no paraphrase). The
right answer is the document's page that holds the sentence: page 1 of a one-page document, the page
an olmOCR-bench test names, or the page of a multi-page PDF whose own text layer contains the sentence
(a question whose page cannot be told is left out). recall@k counts the questions whose page is among
the first k hits.
"""

from __future__ import annotations

import html
import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tierocr.evaluation.corpus import GroundTruthFormat, ManifestRow
from tierocr.index.search import Hit
from tierocr.index.tokens import tokenize

Kind = Literal["sentence", "keywords"]

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_MARKUP = re.compile(r"<!--.*?-->|<[^>]+>|\$\$.*?\$\$|\$[^$\n]*\$|!\[[^\]]*\]\([^)]*\)|[*_`#>|]+", re.DOTALL)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True, slots=True)
class Question:
    row_id: str
    page: int
    kind: Kind
    query: str


@dataclass
class ModeResult:
    found: Counter[str] = field(default_factory=Counter)
    asked: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def recall(self, kind: str | None = None) -> float:
        asked = self.asked[kind] if kind else sum(self.asked.values())
        found = self.found[kind] if kind else sum(self.found.values())
        return found / asked if asked else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]

    def summary(self) -> dict[str, float]:
        return {
            "recall_at_k": round(self.recall(), 4),
            "recall_sentence": round(self.recall("sentence"), 4),
            "recall_keywords": round(self.recall("keywords"), 4),
            "questions": sum(self.asked.values()),
            "p50_ms": round(self.latency_ms(0.5), 2),
            "p95_ms": round(self.latency_ms(0.95), 2),
            "mean_ms": round(1000 * statistics.fmean(self.latencies), 2) if self.latencies else 0.0,
        }


def _long_enough(sentence: str) -> bool:
    if _CJK.search(sentence):
        return len(sentence.replace(" ", "")) >= 12
    return len(sentence.split()) >= 6


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    for piece in _SENTENCE.split(text):
        clean = " ".join(piece.split())
        if _long_enough(clean):
            out.append(clean)
    return out


def groundtruth_passages(row: ManifestRow) -> list[tuple[str, int | None]]:
    """Sentences of the ground truth, with their page where the ground truth says it."""
    raw = row.groundtruth_file.read_text(encoding="utf-8")
    if row.groundtruth_format is GroundTruthFormat.JSON:
        passages: list[tuple[str, int | None]] = []
        for line in raw.splitlines():
            test = json.loads(line) if line.strip() else {}
            for key in ("text", "before", "after"):
                value = test.get(key)
                if test.get("type") in ("present", "order") and isinstance(value, str):
                    clean = " ".join(value.split())
                    if len(clean.split()) >= 4 or (_CJK.search(clean) and len(clean) >= 8):
                        passages.append((clean, int(test.get("page", 1))))
        return list(dict.fromkeys(passages))
    if row.groundtruth_format is GroundTruthFormat.HTML:
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", raw, re.DOTALL | re.IGNORECASE)
        cells = [" ".join(html.unescape(_MARKUP.sub(" ", r)).split()) for r in rows]
        return [(c, None) for c in cells if len(c.split()) >= 4]
    lines = [ln for ln in raw.splitlines() if not ln.lstrip().startswith("|")]  # Markdown tables
    text = html.unescape(_MARKUP.sub(" ", "\n".join(lines)))
    return [(s, None) for s in _sentences(text)]


def _spread(items: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    """``n`` items spread evenly over the list (the whole document, not just its start)."""
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]


def keyword_query(sentence: str, document_frequency: Counter[str], words: int = 4) -> str:
    """The sentence's ``words`` rarest terms across the corpus ground truth, in their order."""
    terms = [t for t in dict.fromkeys(tokenize(sentence)) if len(t) >= 3 or _CJK.match(t)]
    ranked = sorted(terms, key=lambda t: (document_frequency[t], -len(t), t))[:words]
    return " ".join(t for t in terms if t in ranked)


def make_questions(
    rows: list[ManifestRow], page_texts: dict[str, list[str]], per_document: int = 5
) -> list[Question]:
    """Up to ``per_document`` sentences per document, each asked whole and as keywords.

    ``page_texts`` holds the text layer of each multi-page PDF by row id (one string per page), which
    places a sentence on its page; rows of one page need none.
    """
    from rapidfuzz import fuzz

    passages = {row.id: groundtruth_passages(row) for row in rows}
    df: Counter[str] = Counter()
    for items in passages.values():
        df.update({t for text, _ in items for t in tokenize(text)})
    questions: list[Question] = []
    for row in rows:
        placed: list[tuple[str, int]] = []
        for text, page in passages[row.id]:
            if page is None and row.pages == 1:
                page = 1
            elif page is None and row.id in page_texts:
                scores = [fuzz.partial_ratio(text.lower(), p.lower()) for p in page_texts[row.id]]
                best = max(range(len(scores)), key=scores.__getitem__, default=-1)
                page = best + 1 if best >= 0 and scores[best] >= 90 else None
            if page is not None:
                placed.append((text, page))
        for text, page in _spread(placed, per_document):
            questions.append(Question(row.id, page, "sentence", text))
            keywords = keyword_query(text, df)
            if keywords:
                questions.append(Question(row.id, page, "keywords", keywords))
    return questions


def pdf_page_texts(path: Path) -> list[str]:
    """Each page's own text layer, read the way the pipeline reads it (through the PDFium lock)."""
    from tierocr.config import InputSettings
    from tierocr.inputs import open_document

    with open_document(path, InputSettings()) as document:
        return [
            " ".join(page.text_layer.text.split()) if page.text_layer is not None else ""
            for page in document.iter_pages()
        ]


def found(hits: list[Hit], question: Question, k: int) -> bool:
    return any(h.doc_id == question.row_id and question.page in h.pages for h in hits[:k])
