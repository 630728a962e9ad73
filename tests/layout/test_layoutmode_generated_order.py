"""Reading order on generated pages of the layouts that broke on unseen documents: 2, 3 and 4 columns,
a figure band, an inset, newspaper zones and footnotes, read from the text layer and from a scan.

Each page is scored by NED against its text in reading order (the corpus metric): one paragraph read in
the wrong place costs about twice its share of the page, so the bounds below allow OCR noise, not a jump.
"""

from __future__ import annotations

import pytest

from tierocr.config import Settings
from tierocr.evaluation.metrics import normalized_edit_distance
from tierocr.evaluation.normalize import normalize_for_ned
from tierocr.pipeline import Pipeline
from tierocr.render.markdown import render_markdown
from tierocr.samples.layouts import LAYOUTS, LayoutPage
from tierocr.samples.synthetic import image_pdf, render_page, scan_of


@pytest.fixture(scope="module")
def pipelines() -> dict[bool, Pipeline]:
    return {on: Pipeline(Settings.model_validate({"layout": {"enabled": on}})) for on in (True, False)}


def _ned(pipeline: Pipeline, page: LayoutPage, data: bytes) -> float:
    document = pipeline.parse(data, name=f"{page.name}.pdf")
    hypothesis = render_markdown(document, pipeline.settings.render)
    return normalized_edit_distance(normalize_for_ned(page.text), normalize_for_ned(hypothesis))


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_layout_mode_reads_each_generated_layout_in_order_from_the_text_layer(
    pipelines: dict[bool, Pipeline], name: str
) -> None:
    page = LAYOUTS[name]()
    assert _ned(pipelines[True], page, page.pdf) <= 0.03


@pytest.mark.slow
@pytest.mark.parametrize("name", ["newspaper", "columns4", "inset"])
@pytest.mark.parametrize("layout", [True, False], ids=["layout", "full-page"])
def test_a_skewed_scan_of_a_generated_layout_is_read_in_order(
    pipelines: dict[bool, Pipeline], name: str, layout: bool
) -> None:
    page = LAYOUTS[name]()
    scan = image_pdf([scan_of(render_page(page.pdf, dpi=200), angle=0.8)])
    assert _ned(pipelines[layout], page, scan) <= 0.05
