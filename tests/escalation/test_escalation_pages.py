"""Escalating pages and regions end to end over HTTP: every page comes out, marked when the VLM failed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fake_vlm import GOOD_TABLE, FakeVlm, closed_port, loop, status, text
from PIL import Image

from tierocr.config import Settings
from tierocr.document import BBox, Block, BlockKind, Page, Provenance, Tier
from tierocr.engines.vlm_profiles import Task
from tierocr.escalation import Escalator, Region, escalate_pages, gate_page, group_regions, plan_escalation
from tierocr.quality import assess_page

OCR = Provenance(tier=Tier.OCR, engine="rapidocr")
CLEAN = (
    "The committee met on Tuesday to review the annual budget. Members agreed that the proposal "
    "needed further work before it could be adopted."
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVlm]:
    with FakeVlm() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeVlm) -> FakeVlm:
    server.requests.clear()
    assert server.pending == 0
    return server


def make_settings(url: str | None, **vlm: Any) -> Settings:
    base: dict[str, Any] = {"url": url, "model": "glm-test", "retries": 1, "backoff_base": 0.001}
    return Settings(vlm={**base, "backoff_max": 0.002, **vlm})


def good_page(number: int) -> Page:
    blocks = [Block(text=CLEAN, confidence=0.96, provenance=OCR, bbox=BBox(x0=10, y0=10, x1=190, y1=60))]
    return Page(number=number, width=200, height=300, dpi=72, tier=Tier.OCR, blocks=blocks, tier_reason="ocr")


def empty_page(number: int) -> Page:
    return Page(number=number, width=200, height=300, dpi=72, tier=Tier.OCR, blocks=[], tier_reason="ocr")


def table_page(number: int) -> Page:
    page = good_page(number)
    table = Block(
        kind=BlockKind.TABLE,
        text="Region Q1 North 10",
        provenance=OCR,
        confidence=0.9,
        bbox=BBox(x0=20, y0=100, x1=180, y1=200),
    )
    return page.model_copy(update={"blocks": [*page.blocks, table]})


def gated(page: Page, settings: Settings, ink: float = 0.05) -> Page:
    """What the pipeline does before escalation: record the gate's verdict on the page."""
    verdict = assess_page(page, settings.gate, languages=settings.ocr.languages, ink_ratio=ink)
    return page.model_copy(update={"quality": verdict})


def image() -> Image.Image:
    return Image.new("RGB", (400, 600), "white")  # twice the page size: crops must be scaled


def test_only_failing_pages_and_regions_are_escalated(fake: FakeVlm) -> None:
    settings = make_settings(fake.url)
    pages = [gated(good_page(1), settings), gated(empty_page(2), settings), gated(table_page(3), settings)]
    plans = [plan_escalation(p, settings) for p in pages]
    assert [p.mode for p in plans] == ["none", "page", "regions"]
    assert plans[2].regions == (Region((1,), Task.TABLE, "table_without_html"),)

    out = escalate_pages([(p, image()) for p in pages], settings)

    assert [p.number for p in out] == [1, 2, 3]
    assert out[0] == pages[0]
    escalated = out[1]
    assert escalated.tier is Tier.VLM and escalated.errors == []
    assert escalated.quality == pages[1].quality and not escalated.quality.accepted  # the gate's verdict kept
    assert {b.provenance.engine for b in escalated.blocks} == {"vlm:glm-test"}
    kinds = [b.kind for b in escalated.blocks]
    assert BlockKind.TABLE in kinds and BlockKind.FORMULA in kinds and BlockKind.HEADING in kinds
    assert "near_empty" in (escalated.tier_reason or "") and "vlm" in escalated.timings

    mixed = out[2]
    assert mixed.tier is Tier.OCR and "1/1 region(s) re-read" in (mixed.tier_reason or "")
    assert mixed.blocks[0] == pages[2].blocks[0]
    table = mixed.blocks[1]
    assert table.html == GOOD_TABLE and table.bbox == pages[2].blocks[1].bbox
    assert table.provenance.tier is Tier.VLM and table.attributes["classical_text"] == "Region Q1 North 10"

    prompts = sorted(r["messages"][0]["content"][1]["text"] for r in fake.requests)
    assert prompts == ["Table Recognition:", "Text Recognition:"]


def test_region_crop_is_scaled_from_page_to_image_pixels(fake: FakeVlm) -> None:
    import base64
    import io

    settings = make_settings(fake.url)
    escalate_pages([(gated(table_page(1), settings), image())], settings)
    uri = fake.requests[0]["messages"][0]["content"][0]["image_url"]["url"]
    crop = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert crop.size == (320 + 12, 200 + 12)  # (160 x 100 page px) x 2, plus the padding


@pytest.mark.parametrize("failure", ["server_error", "refused", "loop", "empty"])
def test_failed_escalation_keeps_the_classical_page_marked(fake: FakeVlm, failure: str) -> None:
    url = fake.url
    if failure == "server_error":
        fake.script(status(500), status(500), status(503), status(503))
    elif failure == "refused":
        url = f"http://127.0.0.1:{closed_port()}/v1"
    elif failure == "loop":
        fake.script(loop(), loop(), loop(), loop())
    else:
        fake.script(text(""), text(""))
    settings = make_settings(url)
    pages = [gated(empty_page(1), settings), gated(table_page(2), settings)]

    out = escalate_pages([(p, image()) for p in pages], settings)

    assert len(out) == 2 and fake.pending == 0
    for before, after in zip(pages, out, strict=True):
        assert after.blocks == before.blocks and after.tier is Tier.OCR
        assert after.quality == before.quality
        assert [e.stage for e in after.errors] == ["vlm"]
        assert "classical result kept" in (after.tier_reason or "")
    if failure == "loop":
        assert "loops" in out[0].errors[0].message


def test_without_an_endpoint_rejected_pages_are_noted_not_lost() -> None:
    settings = make_settings(None)
    rejected, good = gated(empty_page(1), settings), good_page(2)
    out = escalate_pages([(rejected, image()), (good, image())], settings)
    assert out[0].errors == [] and out[0].blocks == rejected.blocks and out[0].quality == rejected.quality
    assert "near_empty" in (out[0].tier_reason or "") and "no VLM endpoint" in (out[0].tier_reason or "")
    assert out[1] == good


def test_policy_never_and_always(fake: FakeVlm) -> None:
    never = make_settings(fake.url, escalate="never")
    page = gated(empty_page(1), never)
    assert escalate_pages([(page, image())], never) == [page] and fake.requests == []
    always = make_settings(fake.url, escalate="always")
    (out,) = escalate_pages([(good_page(2), image())], always)
    assert out.tier is Tier.VLM and "escalate=always" in (out.tier_reason or "")


def test_many_pages_in_flight_and_order_kept(fake: FakeVlm) -> None:
    settings = make_settings(fake.url, max_concurrency=4)
    pages = [gated(empty_page(n), settings) for n in range(1, 21)]
    out = escalate_pages([(p, image()) for p in pages], settings)
    assert [p.number for p in out] == list(range(1, 21))
    assert all(p.tier is Tier.VLM for p in out) and len(fake.requests) == 20


def test_sync_wrapper_works_inside_a_running_event_loop(fake: FakeVlm) -> None:
    settings = make_settings(fake.url)

    async def from_async_code() -> list[Page]:
        return escalate_pages([(gated(empty_page(1), settings), image())], settings)

    (out,) = asyncio.run(from_async_code())
    assert out.tier is Tier.VLM


def test_escalator_keeps_its_breaker_across_batches() -> None:
    settings = make_settings(f"http://127.0.0.1:{closed_port()}/v1", retries=0, breaker_threshold=1)
    escalator = Escalator(settings)
    first = escalator.escalate_pages([(gated(empty_page(1), settings), image())])
    second = escalator.escalate_pages([(gated(empty_page(2), settings), image())])
    assert "ConnectError" in first[0].errors[0].message
    assert "circuit open" in second[0].errors[0].message  # failed fast, without a connection attempt
    assert escalator.breaker.state == "open"


def test_some_regions_fail_others_succeed(fake: FakeVlm) -> None:
    settings = make_settings(fake.url)
    page = table_page(1)
    between = page.blocks[0].model_copy(update={"bbox": BBox(x0=20, y0=205, x1=180, y1=208)})
    second = page.blocks[1].model_copy(update={"bbox": BBox(x0=20, y0=210, x1=180, y1=290)})
    page = gated(page.model_copy(update={"blocks": [*page.blocks, between, second]}), settings)
    fake.script(status(400))  # whichever table arrives first is refused (not retryable)

    (out,) = escalate_pages([(page, image())], settings)

    assert len(out.blocks) == 4 and out.blocks[0] == page.blocks[0] and out.blocks[2] == page.blocks[2]
    assert sorted(b.provenance.tier.value for b in (out.blocks[1], out.blocks[3])) == ["ocr", "vlm"]
    assert len(out.errors) == 1 and "HTTP 400" in out.errors[0].message
    assert "1/2 region(s) re-read" in (out.tier_reason or "")


def test_gate_page_records_the_verdict_with_ink() -> None:
    settings = make_settings(None)
    inked = Image.new("L", (200, 300), 0)  # all ink, no text read
    judged = gate_page(empty_page(1), inked, settings)
    assert judged.quality is not None and "near_empty" in judged.quality.signals
    assert gate_page(empty_page(1), None, settings).quality.accepted  # no image: no ink signals


def test_rows_of_one_table_are_read_as_one_region(fake: FakeVlm) -> None:
    settings = make_settings(fake.url)
    rows = [
        Block(
            text=f"Region {i}  {i * 10}  {i * 12}  {i * 14}",
            confidence=0.97,
            provenance=OCR,
            bbox=BBox(x0=20, y0=100 + 20 * i, x1=180, y1=118 + 20 * i),
        )
        for i in range(6)
    ]
    page = gated(good_page(1).model_copy(update={"blocks": [good_page(1).blocks[0], *rows]}), settings)
    (region,) = plan_escalation(page, settings).regions
    assert region.indices == (1, 2, 3, 4, 5, 6) and region.task is Task.TABLE

    (out,) = escalate_pages([(page, image())], settings)

    assert len(fake.requests) == 1  # one crop for the whole table, with the table prompt
    assert fake.requests[0]["messages"][0]["content"][1]["text"] == "Table Recognition:"
    (table,) = out.blocks[1:]
    assert table.html == GOOD_TABLE and table.bbox == BBox(x0=20, y0=100, x1=180, y1=218)
    assert table.attributes["classical_text"].count("Region") == 6


def test_formulas_are_never_merged() -> None:
    formula = Block(text="x = α + β", provenance=OCR, bbox=BBox(x0=0, y0=0, x1=9, y1=9))
    page = good_page(1).model_copy(update={"blocks": [formula, formula]})
    regions = group_regions(page, {0: "formula_like", 1: "formula_like"})
    assert [r.indices for r in regions] == [(0,), (1,)]
