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


def test_a_detected_line_running_across_a_gutter_is_split_where_its_words_leave_a_wide_gap() -> None:
    from tierocr.document import BBox
    from tierocr.engines.base import OcrLine
    from tierocr.engines.rapid import split_at_gaps

    def word(text: str, x0: float, x1: float) -> tuple[str, float, list[list[float]]]:
        return (text, 0.9, [[x0, 10], [x1, 10], [x1, 40], [x0, 40]])

    line = OcrLine("ends here and starts", BBox(x0=0, y0=10, x1=600, y1=40), 0.9)
    words = [word("ends", 0, 80), word("here", 90, 170), word("and", 260, 320), word("starts", 330, 450)]
    pieces = split_at_gaps(line, "ends here and starts", words)
    assert [(p.text, p.bbox.x1) for p in pieces] == [("ends here", 170), ("and starts", 450)]
    # CJK characters keep the recogniser's spacing (none), and ordinary spaces never split a line.
    cjk = OcrLine("左栏结束右栏开始", BBox(x0=0, y0=0, x1=400, y1=30), 0.9)
    chars = [
        word(c, 30 * k + (80 if k >= 4 else 0), 30 * k + 28 + (80 if k >= 4 else 0))
        for k, c in enumerate("左栏结束右栏开始")
    ]
    assert [p.text for p in split_at_gaps(cjk, "左栏结束右栏开始", chars)] == ["左栏结束", "右栏开始"]
    assert split_at_gaps(line, "ends here and starts", words[:2]) == [line]
