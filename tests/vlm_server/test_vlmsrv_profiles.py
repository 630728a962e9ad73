"""The three tiny real architectures through the server: profile prompts, batching of mixed image sizes.

GLM-OCR loads here without torchvision, through the processor assembled in `processors.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlm_server_helpers import Hooks, RunningServer, png_data_uri, settings_for, start_server

from tierocr.vlm_server.profiles import GLM_OCR, LIGHTON_OCR, PADDLEOCR_VL, ModelProfile
from tierocr.vlm_server.testing import build_tiny_glm_ocr, build_tiny_lighton_ocr

ARCHS = {"paddleocr_vl": PADDLEOCR_VL, "glm_ocr": GLM_OCR, "lighton_ocr": LIGHTON_OCR}


@pytest.fixture(scope="module", params=sorted(ARCHS))
def arch_server(
    request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    builders = {"glm_ocr": build_tiny_glm_ocr, "lighton_ocr": build_tiny_lighton_ocr}
    build = builders.get(request.param)
    model = tiny_model if build is None else build(tmp_path_factory.mktemp("models") / request.param)
    running, stop = start_server(settings_for(model), Hooks())
    yield running
    stop()


def _profile(server: RunningServer) -> ModelProfile:
    with server.client() as c:
        c.post("/v1/chat/completions", json=_body([]))  # loads the model
        model_type = c.get("/health").json()["model_type"]
    return ARCHS[model_type]


def _body(text: list[str], size: tuple[int, int] = (96, 40), **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": png_data_uri(*size)}}]
    content += [{"type": "text", "text": t} for t in text]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 3, **extra}


def _prompt_tokens(server: RunningServer, body: dict[str, Any]) -> int:
    with server.client() as c:
        r = c.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    return r.json()["usage"]["prompt_tokens"]


def test_an_image_alone_gets_the_profiles_ocr_prompt(arch_server: RunningServer) -> None:
    profile = _profile(arch_server)
    alone = _prompt_tokens(arch_server, _body([]))
    # Character-level tokenizers: the prompt text costs one token per character.
    assert alone == _prompt_tokens(arch_server, _body([profile.task_prompt("ocr")]))
    # A blank text part is no instruction; the client's own text replaces the default prompt.
    assert alone == _prompt_tokens(arch_server, _body(["  "])) - 2
    assert alone - len(profile.task_prompt("ocr")) + 1 == _prompt_tokens(arch_server, _body(["x"]))


def test_task_picks_the_profiles_prompt(arch_server: RunningServer) -> None:
    profile = _profile(arch_server)
    ocr = _prompt_tokens(arch_server, _body([]))
    formula = _prompt_tokens(arch_server, _body([], task="formula"))
    assert formula - ocr == len(profile.task_prompt("formula")) - len(profile.task_prompt("ocr"))


def test_images_of_different_sizes_batch_and_keep_their_greedy_answers(arch_server: RunningServer) -> None:
    sizes = [(96, 40), (40, 120), (200, 60)]
    bodies = [_body([], size, max_tokens=5) for size in sizes]
    with arch_server.client() as c:
        alone = [c.post("/v1/chat/completions", json=b).json() for b in bodies]

    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=arch_server.url, timeout=120) as client:
            return await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))

    calls_before = arch_server.state.batcher.stats.generate_calls
    batched = [r.json() for r in asyncio.run(together())]
    assert arch_server.state.batcher.stats.generate_calls - calls_before < len(bodies)
    assert [b["usage"] for b in batched] == [a["usage"] for a in alone]
    assert [b["choices"][0]["message"] for b in batched] == [a["choices"][0]["message"] for a in alone]
