"""Search on the dev corpus: questions made from the ground truth find their page.

The born-digital PDFs of the corpus are read through their text layer (milliseconds a page), so this
runs on every test run; the whole corpus, OCR included, is measured by bench/search_eval.py.
"""

from __future__ import annotations

from pathlib import Path

from tierocr.config import Settings
from tierocr.evaluation.corpus import ManifestRow, read_manifest
from tierocr.index.evaluation import found, make_questions, pdf_page_texts
from tierocr.pipeline import Pipeline


def _text_layer_pdfs(corpus: Path, limit: int = 8) -> list[ManifestRow]:
    """PDF rows whose every page carries a real text layer (at least 300 characters)."""
    picked: list[ManifestRow] = []
    for row in read_manifest(corpus):
        if row.file.suffix.lower() != ".pdf":
            continue
        texts = pdf_page_texts(row.file)
        if texts and all(len(t) >= 300 for t in texts):
            picked.append(row)
    return picked[:limit]


def test_ground_truth_questions_find_their_page(
    corpus: Path, settings: Settings, open_index, tmp_path
) -> None:
    rows = _text_layer_pdfs(corpus)
    assert len(rows) >= 5
    fast = settings.model_copy(update={"layout": settings.layout.model_copy(update={"enabled": False})})
    pipeline = Pipeline(fast)
    index = open_index(str(tmp_path / "corpus.sqlite"))
    for row in rows:
        index.index_document(pipeline.parse(row.file), doc_id=row.id)
    page_texts = {r.id: pdf_page_texts(r.file) for r in rows if r.pages > 1}
    questions = make_questions(rows, page_texts)
    assert len(questions) >= 40
    assert any(q.page > 1 for q in questions)  # multi-page PDFs place their sentences on their pages
    recall = {}
    for mode in ("keyword", "vector", "hybrid"):
        hits = [found(index.search(q.query, mode=mode, k=5), q, 5) for q in questions]
        recall[mode] = sum(hits) / len(hits)
    assert recall["keyword"] >= 0.9, recall
    assert recall["hybrid"] >= 0.9, recall
    assert recall["vector"] >= 0.8, recall
