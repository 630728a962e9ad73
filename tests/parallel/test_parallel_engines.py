"""Engines shared by page workers read pages at the same time, not one after another behind a lock."""

from __future__ import annotations

import threading

from tierocr.config import Settings
from tierocr.engines.tesseract import TesseractEngine
from tierocr.samples.synthetic import PARAGRAPHS, render_page, text_pdf


def test_tesseract_gives_each_concurrent_reader_an_api_object_of_its_own(settings: Settings) -> None:
    engine = TesseractEngine(settings.ocr)
    line = render_page(text_pdf([[PARAGRAPHS[0]]], footer=False), dpi=150).crop((0, 0, 1275, 300))
    done: list[str] = []
    with engine._api():  # one page worker is inside Tesseract...
        reader = threading.Thread(
            target=lambda: done.append(" ".join(ln.text for ln in engine.recognize(line)))
        )
        reader.start()
        reader.join(120)  # ...and another reads meanwhile: with one shared object it would wait here
        assert not reader.is_alive()
    assert "cheapest path" in done[0]
    assert len(engine._made) == 2
    engine.recognize(line)  # objects are reused, not made per call
    assert len(engine._made) == 2
