"""Routing pages through the tiers, end to end on real and generated documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from rapidfuzz.distance import Levenshtein

from tierocr.config import Settings
from tierocr.document import Tier
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.pipeline import Pipeline
from tierocr.render.markdown import render_markdown
from tierocr.samples import SAMPLE_PDF
from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, render_page, scan_of, text_pdf


def _ned(a: str, b: str) -> float:
    a, b = " ".join(a.split()), " ".join(b.split())
    return Levenshtein.normalized_distance(a, b)


def test_phototest_within_five_percent(settings: Settings, corpus: Path) -> None:
    doc = Pipeline(settings).parse(corpus / "tesseract_test" / "phototest.tif")
    truth = (corpus / "tesseract_test" / "phototest.txt").read_text()
    assert doc.pages[0].tier is Tier.OCR
    assert _ned(render_markdown(doc, settings.render), truth) <= 0.05


def test_born_digital_docling_pdfs_come_from_the_text_layer(settings: Settings, corpus: Path) -> None:
    pipeline = Pipeline(settings)
    for name in (
        "2305.03393v1-pg9.pdf",
        "amt_handbook_sample.pdf",
        "code_and_formula.pdf",
        "normal_4pages.pdf",
    ):
        doc = pipeline.parse(corpus / "docling" / name)
        assert {p.tier for p in doc.pages} == {Tier.TEXT_LAYER}, name
    scanned = pipeline.parse(corpus / "docling" / "ocr_test.pdf")
    assert scanned.pages[0].tier is Tier.OCR
    assert "Docling bundles PDF document conversion" in render_markdown(scanned, settings.render)


def test_sample_mixes_tiers(settings: Settings) -> None:
    doc = Pipeline(settings).parse(SAMPLE_PDF)
    assert [p.tier for p in doc.pages] == [Tier.TEXT_LAYER, Tier.OCR]
    md = render_markdown(doc, settings.render)
    assert md.startswith("# tierocr sample document")
    assert _ned(doc.pages[1].text, PARAGRAPHS[1] + " " + PARAGRAPHS[2]) < 0.1
    assert all(p.timings["total"] > 0 and p.tier_reason for p in doc.pages)


def test_rotated_scan_is_turned_upright(settings: Settings) -> None:
    page = render_page(text_pdf([[PARAGRAPHS[0]]], footer=False), dpi=150).crop((0, 0, 1275, 500))
    sideways = scan_of(page).rotate(90, expand=True, fillcolor="white")
    doc = Pipeline(settings).parse(image_pdf([sideways], dpi=150))
    assert doc.pages[0].rotation == 90  # turned 90° counter-clockwise, so turned back clockwise
    assert "cheapest path" in doc.pages[0].text


def test_no_text_layer_flag_forces_ocr(settings: Settings) -> None:
    forced = settings.model_copy(
        update={"text_layer": settings.text_layer.model_copy(update={"enabled": False})}
    )
    doc = Pipeline(forced).parse(text_pdf([[PARAGRAPHS[0]]]))
    assert doc.pages[0].tier is Tier.OCR and doc.pages[0].tier_reason == "text layer disabled"


class _Exploding(OcrEngine):
    """Crashes on the squarer of the two pages, whichever order the workers reach them in."""

    name = "exploding"

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        if image.width / image.height < 1.6:
            raise RuntimeError("engine crashed")
        return []


def test_engine_failure_keeps_the_page_and_the_rest(settings: Settings) -> None:
    square, wide = Image.new("RGB", (400, 300), "white"), Image.new("RGB", (600, 300), "white")
    doc = Pipeline(settings, engine=_Exploding()).parse(image_pdf([square, wide]))
    assert len(doc.pages) == 2
    assert doc.pages[0].errors and "engine crashed" in doc.pages[0].errors[0].message
    assert doc.pages[1].errors == [] and doc.pages[1].tier is Tier.OCR


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_process_image_and_images(settings: Settings, tmp_path: Path, fmt: str) -> None:
    page = render_page(text_pdf([[PARAGRAPHS[2]]], footer=False), dpi=150).crop((0, 0, 1275, 400))
    path = tmp_path / f"p.{fmt.lower()}"
    page.save(path, format=fmt)
    doc = Pipeline(settings).parse(path)
    assert doc.mime_type.startswith("image/") and "one schema" in doc.pages[0].text
