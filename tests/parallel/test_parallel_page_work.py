"""What a born-digital page costs in layout mode: one render, no orientation model, one pdfplumber open
per run (not one per page and table), whatever the number of workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pdfplumber
import pytest

from tierocr.config import Settings
from tierocr.engines.orientation import OrientationFixer
from tierocr.inputs import pdfium_lock
from tierocr.pipeline import Pipeline
from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, render_page, scan_of, text_pdf


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    seen = {"render": 0, "orientation": 0, "pdfplumber_open": 0}

    def counted(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(pdfium_lock, "render", counted("render", pdfium_lock.render))
    monkeypatch.setattr(OrientationFixer, "_classify", counted("orientation", OrientationFixer._classify))
    monkeypatch.setattr(pdfplumber, "open", counted("pdfplumber_open", pdfplumber.open))
    return seen


@pytest.mark.parametrize("workers", [1, 2])
def test_born_digital_pages_render_once_skip_orientation_and_open_pdfplumber_once(
    tmp_path: Path, settings: Settings, counts: dict[str, int], workers: int
) -> None:
    source = tmp_path / "report.pdf"
    source.write_bytes(text_pdf([list(PARAGRAPHS)] * 5, title="Five pages", columns=2))
    settings.pipeline.workers = workers
    doc = Pipeline(settings).parse(source)
    assert [str(p.tier) for p in doc.pages] == ["text_layer"] * 5
    assert counts["render"] == 5  # one raster per page, shared by detection, separators and the gate
    assert counts["orientation"] == 0  # the text layer says the page is upright
    assert counts["pdfplumber_open"] <= workers  # per run, not per page (it was 5 + one per table)


def test_a_scanned_page_still_gets_the_orientation_check(settings: Settings, counts: dict[str, int]) -> None:
    strip = render_page(text_pdf([[PARAGRAPHS[0]]], footer=False), dpi=150).crop((0, 0, 1275, 500))
    Pipeline(settings).parse(image_pdf([scan_of(strip)], dpi=150))
    assert counts["orientation"] >= 1
