"""The review page end to end: real `tierocr serve`, real pipeline on the bundled sample, headless chromium.

Every wait is on DOM state (a selector, a data attribute), never on time. Screenshots are written to a
temporary folder, or to ``$REVIEW_SCREENSHOTS_DIR`` when set (``REVIEW_SCREENSHOTS_DIR=docs`` refreshes
the ones committed under docs/).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from review_helpers import MAX_UPLOAD, SAMPLE, Served

from tierocr.config import RenderSettings
from tierocr.document import Document, Page
from tierocr.render.chunks import chunk_document
from tierocr.render.markdown import render_page_markdown

pytestmark = pytest.mark.browser

PARSE_MS = 300_000  # upper bound for a parse on a loaded 2-core machine; waits end as soon as the DOM says


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("REVIEW_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _without_timings(doc: dict[str, Any]) -> dict[str, Any]:
    """Timings are the one thing two parses of the same file legitimately disagree on."""
    return doc | {"pages": [{k: v for k, v in p.items() if k != "timings"} for p in doc["pages"]]}


def _open(browser: Any, served: Served, errors: list[str], **context: Any) -> Any:
    """A fresh page that has been given the API key through the page's own dialog; script errors go to
    ``errors``."""
    page = browser.new_context(accept_downloads=True, **context).new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served.url + "/")
    dialog = page.locator("#key-dialog")
    dialog.wait_for(state="visible")
    assert "needs an API key" in page.locator("#key-reason").inner_text()
    dialog.locator("input[name=key]").fill(served.key)
    dialog.locator("button[value=ok]").click()
    page.wait_for_selector("body[data-ready=true]")
    return page


@pytest.fixture(scope="module")
def api_result(served: Served) -> dict[str, Any]:
    with served.client() as c:
        answer = c.post("/api/ocr/document", files={"file": ("sample.pdf", SAMPLE.read_bytes())})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_sample_streams_in_and_matches_the_api(
    browser: Any, served: Served, api_result: dict[str, Any], tmp_path: Path
) -> None:
    errors: list[str] = []
    page = _open(browser, served, errors, viewport={"width": 1440, "height": 1000})
    # Record the progress bar's values as the DOM changes, to see pages arrive one by one.
    page.evaluate(
        """() => {
          window.progressSeen = [];
          new MutationObserver(() => {
            const bar = document.querySelector('.document progress');
            const state = document.querySelector('.document')?.dataset.state;
            const cards = document.querySelectorAll('.page-card').length;
            if (bar) window.progressSeen.push([bar.value, bar.max, state, cards]);
          }).observe(document.body, {subtree: true, childList: true, attributes: true});
        }"""
    )
    page.set_input_files("#file-input", str(SAMPLE))
    page.wait_for_selector(".document[data-state=done]", timeout=PARSE_MS)

    seen = page.evaluate("window.progressSeen")
    assert [1, 2, "running", 1] in seen, seen  # page 1 was on screen while page 2 was being read
    assert page.eval_on_selector(".document progress", "b => [b.value, b.max]") == [2, 2]
    assert "2 of 2 pages" in page.inner_text(".doc-status")

    api_doc = api_result["document"]
    for api_page in api_doc["pages"]:
        card = page.locator(f".page-card[data-page='{api_page['number']}']")
        # the page image arrived and was decoded
        assert card.locator(".stage img").evaluate("img => img.complete && img.naturalWidth > 200")
        # one numbered box per region, in reading order, coloured by label
        boxed = [i for i, b in enumerate(api_page["blocks"]) if b["bbox"]]
        regions = card.locator(".region")
        assert regions.count() == len(boxed) > 0
        assert [int(x) for x in regions.evaluate_all("rs => rs.map(r => r.dataset.block)")] == boxed
        assert regions.locator(".tag").all_inner_texts() == [str(n) for n in range(1, len(boxed) + 1)]
        # the tier, the gate's verdict, the timings
        assert card.locator(".page-head [data-tier]").get_attribute("data-tier") == api_page["tier"]
        assert "gate: kept" in card.locator(".page-head .verdict").inner_text()
        assert "total" in card.locator(".page-facts").inner_text()
        # the Markdown, rendered: the first block of both pages of the sample is a title
        first = card.locator(".view-rendered .block[data-block='0'] h1")
        assert first.inner_text() == api_page["blocks"][0]["text"]

    # a region and its text point at each other
    card = page.locator(".page-card[data-page='1']")
    card.locator(".region[data-block='2']").click()
    assert "selected" in card.locator(".view-rendered .block[data-block='2']").get_attribute("class")
    card.locator(".view-rendered .block[data-block='1']").click()
    assert "selected" in card.locator(".region[data-block='1']").get_attribute("class")
    assert "selected" not in card.locator(".region[data-block='2']").get_attribute("class")

    # raw Markdown and JSON views show exactly what the API returns for the page
    card.locator("button[data-view=raw]").click()
    raw = card.locator(".view-raw")
    assert raw.is_visible() and not card.locator(".view-rendered").is_visible()
    first_page = Page.model_validate(api_doc["pages"][0])
    assert raw.text_content() == render_page_markdown(first_page, RenderSettings())
    card.locator("button[data-view=json]").click()
    shown = json.loads(card.locator(".view-json").inner_text())
    assert _without_timings({"pages": [shown]}) == _without_timings({"pages": [api_doc["pages"][0]]})
    card.locator("button[data-view=rendered]").click()

    # downloads: the JSON equals the API's Document, the Markdown and the chunks its renderers' output
    downloaded = {}
    for what in ("json", "md", "chunks"):
        with page.expect_download() as info:
            page.click(f".download-{what}")
        downloaded[what] = Path(info.value.path()).read_text(encoding="utf-8")
        assert info.value.suggested_filename.startswith("sample.")
    assert _without_timings(json.loads(downloaded["json"])) == _without_timings(api_doc)
    assert downloaded["md"] == api_result["markdown"]
    chunks = [json.loads(line) for line in downloaded["chunks"].splitlines()]
    expected = chunk_document(Document.model_validate(api_doc), RenderSettings())
    assert chunks == [c.model_dump(mode="json") for c in expected] and chunks

    shots = _shots(tmp_path)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "web-review.png"))

    # re-run page 2 with escalation forced: the fake VLM's answer (a table, a formula) beside the OCR read
    card = page.locator(".page-card[data-page='2']")
    card.locator("button.rerun").click()
    sides = card.locator(".compare .side")
    sides.first.wait_for(timeout=PARSE_MS)
    assert sides.nth(0).get_attribute("data-tier") == "ocr"
    assert sides.nth(1).get_attribute("data-tier") == "vlm"
    assert sides.nth(1).locator("table td").first.inner_text() in ("North", "10")
    assert sides.nth(1).locator(".katex").count() >= 1  # the formula typeset by the bundled KaTeX
    assert "North" in sides.nth(1).locator("table").inner_text()
    # the card alone, from the full page (an element shot would slide it under the sticky top bar)
    top, height = card.evaluate("c => [c.getBoundingClientRect().top + scrollY, c.offsetHeight]")
    clip = {"x": 0, "y": top - 8, "width": 1440, "height": height + 16}
    page.screenshot(path=str(shots / "web-review-compare.png"), full_page=True, clip=clip)

    # the same results on a phone's width: one column, nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    img_box = page.locator(".page-card[data-page='1'] .stage").bounding_box()
    text_box = page.locator(".page-card[data-page='1'] .page-text").bounding_box()
    assert img_box is not None and text_box is not None and text_box["y"] >= img_box["y"] + img_box["height"]
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "web-review-mobile.png"), full_page=True)
    assert errors == []


def _png(text: str) -> bytes:
    image = Image.new("RGB", (640, 160), "white")
    ImageDraw.Draw(image).text((20, 50), text, fill="black", font=ImageFont.load_default(size=40))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_errors_are_shown_and_jobs_can_be_opened(browser: Any, served: Served, tmp_path: Path) -> None:
    errors: list[str] = []
    page = _open(browser, served, errors, viewport={"width": 1280, "height": 900})
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * (MAX_UPLOAD + 1))
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a document\n")
    page.set_input_files("#file-input", [str(big), str(notes)])

    oversize = page.locator(".document[data-state=failed]", has_text="big.pdf")
    oversize.wait_for()
    assert "over this server's upload limit of 1.0 MB" in oversize.locator(".error").inner_text()
    unsupported = page.locator(".document[data-state=failed]", has_text="notes.txt")
    unsupported.wait_for(timeout=PARSE_MS)
    assert "unsupported file type" in unsupported.locator(".error").inner_text()
    assert unsupported.locator(".retry").is_hidden()  # a refused file is not worth sending again

    # a background job: listed with its status, opened once done (escalation off: the OCR read stays)
    page.check("#options input[name=background]")
    page.select_option("#options select[name=escalate]", "never")
    page.set_input_files(
        "#file-input",
        files=[{"name": "invoice.png", "mimeType": "image/png", "buffer": _png("Invoice 4711")}],
    )
    job = page.locator(".job", has_text="invoice.png").first
    job.locator(".job-open").wait_for(timeout=PARSE_MS)  # the row follows the job to `succeeded`
    assert job.get_attribute("data-status") == "succeeded"
    job.locator(".job-open").click()
    opened = page.locator(".document[data-state=done]", has_text="invoice.png")
    opened.wait_for()
    assert opened.locator(".page-card .no-image-note").count() == 1  # jobs keep no page images
    assert "4711" in opened.locator(".view-rendered").inner_text()
    assert opened.locator(".page-card .rerun").is_disabled()  # the file is not in the browser
    assert errors == []


def test_the_key_is_asked_again_only_when_refused(browser: Any, served: Served) -> None:
    page = browser.new_context().new_page()
    page.goto(served.url + "/")
    dialog = page.locator("#key-dialog")
    dialog.wait_for(state="visible")
    dialog.locator("input[name=key]").fill("wrong")
    dialog.locator("button[value=ok]").click()
    page.wait_for_function("document.querySelector('#key-reason').textContent.includes('refused')")
    dialog.locator("input[name=key]").fill(served.key)
    dialog.locator("button[value=ok]").click()
    page.wait_for_selector("body[data-ready=true]")
    assert "up to 1.0 MB" in page.inner_text("#limits")
    page.reload()  # the key is kept in this browser: no dialog the second time
    page.wait_for_selector("body[data-ready=true]")
    assert not dialog.is_visible()
