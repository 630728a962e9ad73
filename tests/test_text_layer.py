"""When a PDF page's own text is trusted, and when it must be OCR'd instead."""

from __future__ import annotations

from tierocr.config import Settings, TextLayerSettings
from tierocr.document import BBox
from tierocr.inputs import open_document
from tierocr.inputs.base import TextLayer, TextLine
from tierocr.inputs.textlayer import is_bad_char, is_usable
from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, render_page, scan_of, text_pdf


def _layer(text: str, **kw: float) -> TextLayer:
    chars = sum(1 for ch in text if not ch.isspace())
    bad = sum(1 for ch in text if not ch.isspace() and is_bad_char(ch))
    line = TextLine(text=text, bbox=BBox(x0=0, y0=0, x1=100, y1=10), char_height=10)
    return TextLayer(lines=[line], char_count=chars, bad_char_count=bad, **kw)


def test_bad_characters() -> None:
    assert is_bad_char("\ufffd") and is_bad_char("\ue000") and is_bad_char("\x07")
    assert not any(is_bad_char(ch) for ch in "aZ9 中文ſ\n")


def test_usability_rules() -> None:
    rules = TextLayerSettings()
    assert is_usable(_layer("A perfectly normal sentence of text."), rules)[0]
    assert not is_usable(None, rules)[0]
    assert not is_usable(_layer("abc"), rules)[0]
    usable, reason = is_usable(_layer("\ue001\ue002\ue003\ue004\ue005 text here"), rules)
    assert not usable and "mojibake" in reason
    scan_with_stamp = _layer(
        "Received 12 May 2020 by the archive", image_coverage=1.0, image_ink_covered=0.05
    )
    usable, reason = is_usable(scan_with_stamp, rules)
    assert not usable and "scanned page" in reason
    ocrd_scan = _layer(
        "An earlier OCR pass wrote this invisible text", image_coverage=1.0, image_ink_covered=0.9
    )
    assert is_usable(ocrd_scan, rules)[0]


def test_born_digital_vs_scanned_pdf_pages(settings: Settings) -> None:
    digital = text_pdf([[PARAGRAPHS[0]]])
    scanned = image_pdf([scan_of(render_page(digital))])
    with open_document(digital, settings.input) as doc:
        layer = next(iter(doc.iter_pages())).text_layer
        assert is_usable(layer, settings.text_layer)[0]
        assert layer.image_coverage == 0.0
    with open_document(scanned, settings.input) as doc:
        layer = next(iter(doc.iter_pages())).text_layer
        assert layer is not None and layer.char_count == 0
        assert not is_usable(layer, settings.text_layer)[0]


def test_accents_drawn_as_glyphs_of_their_own_go_back_on_their_letters() -> None:
    from tierocr.inputs.textlayer import compose_accents

    # TeX sets "Mináč" as M i n a c plus a ´ over the a and a ˇ over the c, read in drawing order with
    # spaces around them; the boxes are (x0, y0, x1, y1) in pixels.
    chars = ["M", "i", "n", " ", "\u00b4", " ", "a", "c", " ", "\u02c7", " ", "s", "o"]
    boxes = [
        (0, 10, 10, 30), (10, 10, 14, 30), (14, 10, 22, 30), None, (24, 8, 29, 14), None,
        (22, 10, 30, 30), (30, 10, 38, 30), None, (31, 8, 37, 14), None, (44, 10, 50, 30), (50, 10, 56, 30),
    ]  # fmt: skip
    assert " ".join(compose_accents(chars, boxes).split()) == "Mináč so"  # the line collapses spaces
    # A caret or a backquote beside letters, overlapping none of them, stays what it is.
    code = ["x", "^", "2", " ", "`", "a", "`"]
    spaced = [
        (0, 0, 8, 20), (8, 0, 14, 20), (14, 0, 22, 20), None,
        (30, 0, 36, 20), (36, 0, 44, 20), (44, 0, 50, 20),
    ]  # fmt: skip
    assert compose_accents(code, spaced) == "x^2 `a`"
