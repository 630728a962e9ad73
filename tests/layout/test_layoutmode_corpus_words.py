"""On every page of the corpus, layout mode reads the words full-page mode reads: no region's text is
dropped, doubled or invented by layout structure, whatever the document.

Both modes read the same image with the same engine, so the OCR is done once and shared (an engine that
remembers its answer per image); text-layer pages are read from the same layer (PDFium's lines in full-page
mode, pdfminer's words in layout mode), which may set a subscript or a line-end join apart differently
("ε0" against "ε 0"): there the characters, not the word boundaries, must agree.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from tierocr.config import Settings
from tierocr.engines import create_engine
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.evaluation.corpus import read_manifest
from tierocr.layout.words import balance
from tierocr.pipeline import Pipeline


class RememberingEngine(OcrEngine):
    """The real engine, asked once per distinct image."""

    def __init__(self, engine: OcrEngine) -> None:
        self._engine = engine
        self.name = engine.name
        self._seen: dict[str, list[OcrLine]] = {}

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        key = hashlib.sha1(image.tobytes()).hexdigest() + repr(image.size)
        if key not in self._seen:
            self._seen[key] = self._engine.recognize(image)
        return list(self._seen[key])


def _characters(texts: list[str]) -> Counter[str]:
    return Counter(c for t in texts for c in unicodedata.normalize("NFKC", t).casefold() if c.isalnum())


def _same_characters(source: list[str], output: list[str], tolerance: float) -> bool:
    have, got = _characters(source), _characters(output)
    allowed = max(2, tolerance * max(sum(have.values()), sum(got.values())))
    return sum((have - got).values()) <= allowed and sum((got - have).values()) <= allowed


@pytest.mark.slow
def test_layout_mode_keeps_the_words_of_every_corpus_page(corpus: Path) -> None:
    layout_settings = Settings.model_validate({"layout": {"enabled": True}})
    engine = RememberingEngine(create_engine(layout_settings.ocr))
    layout = Pipeline(layout_settings, engine=engine)
    full_page = Pipeline(Settings.model_validate({"layout": {"enabled": False}}), engine=engine)
    failures: list[str] = []
    pages = 0
    for row in read_manifest(corpus):
        with_layout = layout.parse(row.file)
        without = full_page.parse(row.file)
        for a, b in zip(with_layout.pages, without.pages, strict=True):
            pages += 1
            source, output = [blk.text for blk in b.blocks], [blk.text for blk in a.blocks]
            result = balance(source, output)
            if not result.keeps_words(0.02) and not (
                str(a.tier) == "text_layer" and _same_characters(source, output, 0.01)
            ):
                failures.append(
                    f"{row.id} p{a.number}: {result.missing} of {result.source} words lost, "
                    f"{result.extra} added ({a.tier} vs {b.tier})"
                )
    assert pages >= 50
    assert not failures, "\n".join(failures)
