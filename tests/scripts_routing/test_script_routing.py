"""Engine auto: scripts RapidOCR cannot read go to Tesseract with the right language; others stay."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from script_pages import script_page

from tierocr.config import OcrSettings
from tierocr.document import BBox
from tierocr.engines import available_engines
from tierocr.engines.base import OcrLine
from tierocr.engines.router import ScriptRouter, read_is_sure
from tierocr.engines.scripts import Script, dominant_script, language, pick_language
from tierocr.engines.tesseract import find_tessdata, lines_from_tsv
from tierocr.evaluation.metrics import character_error_rate


def _cer(truth: str, lines: list[OcrLine]) -> float:
    """Character error rate with whitespace removed: Tesseract's Korean word spacing is its own."""
    read = "".join("".join(line.text for line in lines).split())
    return character_error_rate("".join(truth.split()), read)


@pytest.fixture(scope="module")
def router() -> ScriptRouter:
    return ScriptRouter(OcrSettings())


def test_auto_is_the_default_engine() -> None:
    assert "auto" in available_engines()
    assert OcrSettings().engine == "auto"


@pytest.mark.parametrize(
    ("lang", "tesseract", "max_cer"),
    [
        ("ar", "ara", 0.1),
        ("fa", "fas", 0.1),
        ("ko", "kor", 0.2),
        ("ru", "rus", 0.05),
        ("hi", "hin", 0.05),
        ("el", "ell", 0.1),
    ],
)
def test_script_rapidocr_cannot_read_goes_to_tesseract(
    router: ScriptRouter, lang: str, tesseract: str, max_cer: float
) -> None:
    image, truth = script_page(lang)
    lines, route = router.read(image)
    assert route == f"tesseract:{tesseract}+eng"
    assert _cer(truth, lines) <= max_cer


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_latin_and_chinese_stay_with_rapidocr(router: ScriptRouter, lang: str) -> None:
    image, truth = script_page(lang)
    lines, route = router.read(image)
    assert route == "rapidocr"
    assert _cer(truth, lines) <= 0.05


def test_right_to_left_lines_come_in_logical_order() -> None:
    """The first word of each line is its rightmost one, and its letters run in reading order."""
    image, truth = script_page("ar")
    lines = sorted(ScriptRouter(OcrSettings(languages=["ar"])).read(image)[0], key=lambda ln: ln.bbox.y0)
    assert [line.text.split()[0] for line in lines] == [row.split()[0] for row in truth.splitlines()]
    assert _cer(truth, lines) <= 0.1


def test_configured_language_is_read_without_detection() -> None:
    router = ScriptRouter(OcrSettings(languages=["fa", "en"]))
    image, truth = script_page("fa")
    lines, route = router.read(image)
    assert route == "tesseract:fas+eng"
    assert _cer(truth, lines) <= 0.1


def test_language_without_data_is_a_warning_naming_the_package(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    installed = find_tessdata(None)
    (tmp_path / "eng.traineddata").symlink_to(installed / "eng.traineddata")
    with caplog.at_level(logging.WARNING, logger="tierocr.engines.router"):
        router = ScriptRouter(OcrSettings(languages=["fa"], tessdata_dir=tmp_path))
    assert "tesseract-ocr-fas" in caplog.text and "'fa'" in caplog.text
    image, _ = script_page("en")
    assert router.read(image)[1] == "rapidocr"  # what it can read, it still reads


def test_read_is_sure_needs_confidence_coverage_and_density() -> None:
    def line(text: str, confidence: float, width: float = 400.0) -> OcrLine:
        return OcrLine(text=text, bbox=BBox(x0=0, y0=0, x1=width, y1=20), confidence=confidence)

    latin = [line("Every page takes the cheapest path that reads", 0.98)] * 3
    assert read_is_sure(latin, detected=3)
    assert not read_is_sure(latin, detected=9)  # most detected lines came back empty
    assert not read_is_sure([line("  .  ", 0.93)] * 3, detected=3)  # confident, but nothing read
    assert not read_is_sure([line("Every page takes the cheapest path", 0.6)] * 3, detected=3)
    assert not read_is_sure([line("Κάθε σελίδα περνά από τον δρόμο", 0.9)] * 3, detected=3)
    assert read_is_sure([], detected=0)


def test_lines_from_tsv_joins_split_letters_and_keeps_word_spaces() -> None:
    def row(line: int, word: int, x0: int, text: str, width: int = 20) -> str:
        return "\t".join(
            ["5", "1", "1", "1", str(line), str(word), str(x0), "10", str(width), "30", "90", text]
        )

    tsv = "\n".join(
        [
            row(1, 1, 0, "บ"),
            row(1, 2, 22, "ริ"),  # 2 px apart: one Thai word
            row(2, 1, 0, "이"),
            row(2, 2, 22, "서"),  # 2 px: one Korean word
            row(2, 3, 60, "비"),  # 18 px, over 0.2 line heights: a word space
            row(3, 1, 0, "Every", 60),
            row(3, 2, 62, "page", 50),  # Latin keeps Tesseract's spaces however close
        ]
    )
    assert [line.text for line in lines_from_tsv(tsv)] == ["บริ", "이서 비", "Every page"]


def test_language_table_and_arabic_or_persian() -> None:
    assert language("fa") == language("fas")
    assert language("ko").debian_package == "tesseract-ocr-kor"  # type: ignore[union-attr]
    assert dominant_script("Привет, мир 2024") == (Script.CYRILLIC, 1.0)
    both = ["fas", "ara"]
    assert pick_language(Script.ARABIC, "می‌خواند و گذرد", both) == "fas"
    assert pick_language(Script.ARABIC, "الخدمة المستندات بسهولة إلى", both) == "ara"


def test_routes_without_rapidocr_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    """A RapidOCR release that hides its steps: the lines are detected again for identification."""
    router = ScriptRouter(OcrSettings())
    monkeypatch.setattr(
        router._rapid, "read_with_crops", lambda image: (router._rapid.recognize(image), None)
    )
    image, truth = script_page("ru")
    lines, route = router.read(image)
    assert route == "tesseract:rus+eng"
    assert _cer(truth, lines) <= 0.05
