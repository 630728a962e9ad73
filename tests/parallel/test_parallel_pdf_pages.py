"""pdfplumber pages from documents opened once per run: the same words, far fewer opens, bounded memory."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tierocr.config import Settings
from tierocr.inputs import open_document
from tierocr.layout.pdf_pages import PdfPages
from tierocr.layout.tables.pdf import PdfPageRef, page_words, pdf_words
from tierocr.pipeline import Pipeline
from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

DPI = 200.0


@pytest.fixture(scope="module")
def ten_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plumber") / "ten.pdf"
    path.write_bytes(text_pdf([[PARAGRAPHS[n % 3], PARAGRAPHS[(n + 1) % 3]] for n in range(10)], columns=2))
    return path


def test_pages_read_the_same_words_as_a_fresh_open_with_a_few_opens(ten_pages: Path) -> None:
    pages = PdfPages(ten_pages, reopen_after=4)
    try:
        for index in range(10):
            shared = page_words(pages.page(index), DPI)
            fresh = page_words(PdfPageRef(path=ten_pages, index=index), DPI)
            assert shared == fresh and shared
            pages.release(index)
    finally:
        pages.close()
    assert pages.opened == 3  # retired after four pages each: memory does not grow with the length


def test_a_page_parsed_once_serves_its_regions_from_several_threads(ten_pages: Path) -> None:
    pages = PdfPages(ten_pages)
    page = pages.page(3)
    left = page_words(PdfPageRef(path=ten_pages, index=3), DPI)
    region = left[0].bbox.union(left[5].bbox)
    expected = pdf_words(PdfPageRef(path=ten_pages, index=3), region, DPI)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(pdf_words(page, region, DPI))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4
    assert pages.opened == 1 and page.parsed
    pages.release(3)
    assert not page.parsed
    pages.close()


def test_layout_pages_read_through_the_shared_documents_match_a_reopen_per_page(
    settings: Settings, ten_pages: Path
) -> None:
    settings.pipeline.workers = 1
    pipeline = Pipeline(settings)
    shared = [
        json.loads(p.model_dump_json(exclude={"timings"}))
        for p in pipeline.parse(ten_pages, pages="1-3").pages
    ]
    loaded = open_document(ten_pages, settings.input, pages="1-3")
    try:
        reopened = []
        for page_input in loaded.iter_pages():
            page, _ = pipeline.classical_page(page_input, ten_pages)  # no shared pages: PdfPageRef
            reopened.append(json.loads(page.model_dump_json(exclude={"timings"})))
    finally:
        loaded.close()
    assert shared == reopened
