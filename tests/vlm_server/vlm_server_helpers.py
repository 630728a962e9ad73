"""Helpers for the vlm-server tests: images, injection hooks, and uvicorn on a socket bound first."""

from __future__ import annotations

import base64
import io
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.app import create_app
from tierocr.vlm_server.model import TransformersModel
from tierocr.vlm_server.testing import serve_in_thread


def png_data_uri(width: int = 96, height: int = 40, text: str = "Total 12.50") -> str:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((4, 4), text, fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass
class Hooks:
    """What tests inject at the server's seams: the answer text, and what the lease and unload saw."""

    script: str | None = None
    leases: list[str] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    weights: list[weakref.ref[Any]] = field(default_factory=list)

    def loader(self, settings: VlmServerSettings) -> TransformersModel:
        hooks = self

        class Scriptable(TransformersModel):
            def decode(self, ids: list[int]) -> str:
                return hooks.script if hooks.script is not None else super().decode(ids)

            def close(self) -> None:
                super().close()
                hooks.closed.set()

        real = TransformersModel.load(settings)
        self.weights.append(weakref.ref(real.model))
        return Scriptable(real.processor, real.model, real.device, real.name)

    def lease(self, purpose: str) -> AbstractAsyncContextManager[object]:
        @asynccontextmanager
        async def held() -> Any:
            self.leases.append(purpose)
            yield None

        return held()


@dataclass
class RunningServer:
    url: str
    app: Any
    hooks: Hooks

    @property
    def state(self) -> Any:
        return self.app.state.server

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120)


def start_server(settings: VlmServerSettings, hooks: Hooks) -> tuple[RunningServer, Callable[[], None]]:
    app = create_app(settings, loader=hooks.loader, lease=hooks.lease)
    url, stop = serve_in_thread(app)
    return RunningServer(url, app, hooks), stop


def settings_for(model: Path, **extra: Any) -> VlmServerSettings:
    base: dict[str, Any] = {
        "model": str(model),
        "device": "cpu",
        "dtype": "float32",
        "max_batch_size": 8,
        "max_wait_ms": 100,
        "idle_unload_s": 0,
        "default_max_tokens": 8,
        "max_tokens_limit": 64,
        "max_image_bytes": 200_000,
    }
    return VlmServerSettings(**{**base, **extra})
