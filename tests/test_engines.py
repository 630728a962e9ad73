"""The classical OCR engines through the registry, on English and Simplified Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tierocr.config import Settings
from tierocr.engines import available_engines, create_engine
from tierocr.errors import EngineUnavailableError
from tierocr.samples.synthetic import PARAGRAPHS, render_page, text_pdf


@pytest.fixture(scope="module")
def english_page() -> Image.Image:
    page = render_page(text_pdf([[PARAGRAPHS[0]]], footer=False), dpi=150)
    return page.crop((0, 0, page.width, 400))


def test_registry_names_and_errors(settings: Settings) -> None:
    assert {"rapidocr", "tesseract"} <= set(available_engines())
    with pytest.raises(EngineUnavailableError, match="unknown OCR engine 'nope'"):
        create_engine(settings.ocr, "nope")
    klingon = settings.ocr.model_copy(update={"languages": ["tlh"]})
    with pytest.raises(EngineUnavailableError, match="no data for language 'tlh'"):
        create_engine(klingon, "tesseract")


@pytest.mark.parametrize("name", ["rapidocr", "tesseract"])
def test_engine_reads_english(settings: Settings, english_page: Image.Image, name: str) -> None:
    engine = create_engine(settings.ocr, name)
    lines = engine.recognize(english_page)
    text = " ".join(line.text for line in lines)
    assert "cheapest path" in text
    assert all(0 <= (ln.confidence or 0) <= 1 for ln in lines)
    assert lines == sorted(lines, key=lambda ln: ln.bbox.y0) or len(lines) > 1
    assert engine.version().startswith(name)


@pytest.mark.parametrize("name", ["rapidocr", "tesseract"])
def test_engine_reads_simplified_chinese(settings: Settings, corpus: Path, name: str) -> None:
    image = Image.open(corpus / "omnidocbench" / "yanbaopptmerge_yanbaoPPT_145.jpg").convert("RGB")
    truth = (corpus / "omnidocbench" / "yanbaopptmerge_yanbaoPPT_145.md").read_text(encoding="utf-8")
    ocr = settings.ocr.model_copy(update={"languages": ["ch_sim", "en"]})
    text = "".join(line.text for line in create_engine(ocr, name).recognize(image))
    truth_chars = {ch for ch in truth if "\u4e00" <= ch <= "\u9fff"}
    found = {ch for ch in text if "\u4e00" <= ch <= "\u9fff"}
    assert len(found & truth_chars) >= 0.5 * len(truth_chars)
