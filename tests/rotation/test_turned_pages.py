"""Pages stored turned (pixels, /Rotate, or both) read as their upright selves."""

from __future__ import annotations

import io

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from tierocr.config import Settings
from tierocr.engines.orientation import OrientationFixer
from tierocr.evaluation.metrics import normalized_edit_distance
from tierocr.inputs.textlayer import extract_text_layer
from tierocr.pipeline import Pipeline
from tierocr.samples.synthetic import text_pdf
from tierocr.samples.turned import stored_turned, turn, turned_scan_page, with_rotate


@pytest.fixture(scope="module")
def page() -> Image.Image:
    return turned_scan_page()


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    settings = Settings()
    settings.layout.enabled = False  # orientation comes first in both modes; full-page mode is quicker
    return Pipeline(settings)


@pytest.fixture(scope="module")
def upright(pipeline: Pipeline, page: Image.Image) -> str:
    text = pipeline.parse(stored_turned(page, "image", 0)).pages[0].text
    assert "stored turned" in text and "cheapest path" in text
    return text


@pytest.mark.parametrize(
    ("kind", "clockwise"),
    [
        ("image", 90),
        ("image", 180),
        ("image", 270),
        ("pdf-pixels", 90),
        ("pdf-pixels", 180),
        ("pdf-pixels", 270),
        ("pdf-rotate", 90),
        ("pdf-rotate", 180),
        ("pdf-rotate", 270),
        ("pdf-both", 0),
        ("pdf-both", 90),
        ("pdf-both", 180),
        ("pdf-both", 270),
    ],
)
def test_turned_page_reads_as_upright(
    pipeline: Pipeline, page: Image.Image, upright: str, kind: str, clockwise: int
) -> None:
    read = pipeline.parse(stored_turned(page, kind, clockwise)).pages[0]
    assert read.rotation == (360 - clockwise) % 360
    assert normalized_edit_distance(upright, read.text) <= 0.05


class _UnsureClassifier(OrientationFixer):
    """The classifier at its worst: always 'upright', never sure."""

    def _classify(self, image: Image.Image) -> tuple[int, float]:
        return 0, 0.5


@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_text_decides_where_the_classifier_is_unsure(page: Image.Image, clockwise: int) -> None:
    assert _UnsureClassifier().detect(turn(page, clockwise)) == (360 - clockwise) % 360


def test_unsure_upright_page_stays_upright(page: Image.Image) -> None:
    assert _UnsureClassifier().detect(page) == 0


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_text_layer_of_a_rotated_page_lies_on_its_rendered_pixels(rotation: int) -> None:
    """PDFium renders /Rotate but gives character boxes unturned; the layer must land on the ink."""
    pdf = pdfium.PdfDocument(with_rotate(text_pdf([["Text layer boxes on rendered pixels."]]), rotation))
    try:
        scale = 100 / 72
        pdf_page = pdf[0]
        image = pdf_page.render(scale=scale).to_pil().convert("L")
        layer = extract_text_layer(pdf_page, scale, pdf_page.get_size()[1])
    finally:
        pdf.close()
    line = layer.lines[0]
    assert line.text == "Text layer boxes on rendered pixels."
    box = line.bbox
    ink = np.asarray(image) < 128
    inside = ink[int(box.y0) : int(box.y1) + 1, int(box.x0) : int(box.x1) + 1].sum()
    assert inside >= 0.8 * ink.sum()  # the line's ink (the page number footer is the rest)
    tall = box.height > box.width
    assert tall == (rotation in (90, 270))


def test_stored_turned_rejects_unknown_kinds(page: Image.Image) -> None:
    with pytest.raises(ValueError, match="unknown storage kind"):
        stored_turned(page, "tiff", 90)
    assert Image.open(io.BytesIO(stored_turned(page, "image", 90))).size == page.size[::-1]
