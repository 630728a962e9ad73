"""The client against our own vlm-serve (a tiny random-weight PaddleOCR-VL), over real HTTP on loopback.

Random weights read nothing, so this checks the protocol, not the text: our requests (data-URI image,
task prompt, vLLM sampling extras) are accepted and the answer parses into a page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")

from PIL import Image, ImageDraw

from tierocr.config import Settings, VlmServerSettings
from tierocr.document import Page, Tier
from tierocr.engines.vlm import VlmClient
from tierocr.engines.vlm_profiles import Task
from tierocr.escalation import escalate_pages
from tierocr.vlm_server.app import create_app
from tierocr.vlm_server.testing import build_tiny_paddleocr_vl, serve_in_thread


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    model = build_tiny_paddleocr_vl(tmp_path_factory.mktemp("models") / "tiny-paddleocr-vl")
    settings = VlmServerSettings(
        model=str(model), device="cpu", dtype="float32", idle_unload_s=0, max_tokens_limit=64
    )
    url, stop = serve_in_thread(create_app(settings))
    yield url + "/v1", str(model)
    stop()


def image() -> Image.Image:
    img = Image.new("RGB", (96, 40), "white")
    ImageDraw.Draw(img).text((4, 4), "Total 12.50", fill="black")
    return img


@pytest.mark.slow
def test_our_requests_are_accepted_by_vlm_serve(served: tuple[str, str]) -> None:
    url, model = served
    vlm = {"url": url, "model": model, "profile": "paddleocr-vl", "max_tokens": 8, "retries": 0}
    settings = Settings(vlm=vlm)

    async def go() -> list[str]:
        async with VlmClient(settings.vlm) as client:
            answers = await asyncio.gather(*(client.recognize(image(), t) for t in (Task.TEXT, Task.TABLE)))
        return [a.text for a in answers]

    texts = asyncio.run(go())
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)

    always = settings.model_copy(update={"vlm": settings.vlm.model_copy(update={"escalate": "always"})})
    page = Page(number=1, width=96, height=40, dpi=72, tier=Tier.OCR)
    (out,) = escalate_pages([(page, image())], always)
    # random weights may answer nothing: then the page is kept and marked, which is also a valid outcome
    assert out.tier is Tier.VLM or any(e.stage == "vlm" for e in out.errors)
