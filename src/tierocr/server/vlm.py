"""The API's synchronous face of the async VLM client, for what only a VLM does (tables, formulas, extract).

Calls arrive on OCR worker threads, which have no event loop, so each call runs the client in a short
loop of its own. The client is built per call: an httpx async client is bound to the loop it was made in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

from PIL import Image

from tierocr.config import Settings

if TYPE_CHECKING:
    from tierocr.engines.vlm import VlmClient
    from tierocr.gpu.lease import Lease

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)

EXTRACT_PROMPT = (
    "Read the document in the image and fill in this JSON object with the values found in it. "
    "Answer with the JSON object only, with exactly these keys; use null for a value that is not there:\n"
)


class ClientVlmTasks:
    """With `vlm.use_lease`, each call is a leased batch of one: the model leaves the card afterwards."""

    def __init__(self, settings: Settings) -> None:
        from tierocr.engines.vlm_backends import BackendMemo

        self.settings = settings
        self.backends = BackendMemo()
        self.lease: Lease | None = None
        if settings.vlm.use_lease:
            from tierocr.gpu.lease import create_lease

            self.lease = create_lease(None, settings.gpu)

    async def _on_card(self, client: VlmClient) -> contextlib.AbstractAsyncContextManager[object]:
        if self.lease is None:
            return contextlib.nullcontext()
        from tierocr.engines.vlm_backends import backend_control
        from tierocr.gpu.release import leased_batch

        control = await backend_control(client.http, client.settings, memo=self.backends)
        return leased_batch(
            self.lease, control, self.settings.gpu, url=client.settings.url or "", model=client.settings.model
        )

    def recognize(self, image: Image.Image, task: str) -> str:
        from tierocr.engines.vlm_profiles import Task

        return asyncio.run(self._recognize(image, Task(task)))

    def extract(self, image: Image.Image, template: dict[str, Any]) -> dict[str, Any]:
        text = asyncio.run(self._extract(image, template))
        cleaned = _FENCE.sub("", text.strip()).strip()
        start, end = cleaned.find("{"), cleaned.rfind("}")
        try:
            value = json.loads(cleaned[start : end + 1]) if start >= 0 else None
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ValueError(f"the VLM did not answer a JSON object: {text[:200]!r}")
        return value

    async def _recognize(self, image: Image.Image, task: Any) -> str:
        from tierocr.engines.vlm import VlmClient

        async with VlmClient(self.settings.vlm) as client, await self._on_card(client):
            return (await client.recognize(image, task)).text

    async def _extract(self, image: Image.Image, template: dict[str, Any]) -> str:
        from tierocr.engines.vlm import VlmClient, encode_image
        from tierocr.engines.vlm_profiles import Task

        s = self.settings.vlm
        async with VlmClient(s) as client, await self._on_card(client):
            uri = await asyncio.to_thread(
                encode_image, image, s.image_format, s.image_max_side, s.jpeg_quality
            )
            payload = client.build_payload(uri, Task.TEXT)
            prompt = EXTRACT_PROMPT + json.dumps(template, ensure_ascii=False, indent=1)
            content = payload["messages"][0]["content"]
            texts = [part for part in content if part.get("type") == "text"]
            if texts:
                texts[0]["text"] = prompt
            else:
                content.append({"type": "text", "text": prompt})
            return (await client.complete(payload)).text


def default_vlm_factory(settings: Settings) -> ClientVlmTasks | None:
    if not settings.vlm.url:
        return None
    try:
        import tierocr.engines.vlm  # noqa: F401 - only checking that the client is part of this build
    except ImportError:
        return None
    return ClientVlmTasks(settings)
