"""When the model is in memory: loaded by the first request, unloaded after an idle spell and on shutdown.

A GPU shared with other work (an LLM, other OCR workers) should hold our weights only while they earn
their keep. The idle watcher waits on an event that every request end sets, so it wakes exactly when the
deadline may have moved; it never polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.jobs import ServedModel
from tierocr.vlm_server.protocol import ApiError

log = logging.getLogger(__name__)

# A lease is taken around loading ("load") and around each batched generate ("generate"); the GPU lease
# of tierocr.gpu plugs in here. The default takes nothing.
LeaseFactory = Callable[[str], AbstractAsyncContextManager[object]]
ModelLoader = Callable[[VlmServerSettings], ServedModel]


def no_lease(purpose: str) -> AbstractAsyncContextManager[object]:
    return contextlib.nullcontext()


class ModelManager:
    def __init__(self, settings: VlmServerSettings, loader: ModelLoader, lease: LeaseFactory) -> None:
        self.settings = settings
        self._loader = loader
        self._lease = lease
        self._model: ServedModel | None = None
        self._lock = asyncio.Lock()
        self._active = 0
        self._last_used = time.monotonic()
        self._activity = asyncio.Event()
        self.loads = 0
        self.unloads = 0

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def memory_used_mb(self) -> float:
        """The model's memory; after an unload on a GPU, what CUDA still holds, to show it was freed."""
        model = self._model
        if model is not None:
            return round(model.memory_bytes() / 2**20, 3)
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            return round(torch.cuda.memory_allocated() / 2**20, 3)
        return 0.0

    def device(self) -> str:
        return self._model.device if self._model is not None else self.settings.device

    def model_type(self) -> str | None:
        return self._model.model_type if self._model is not None else None

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[ServedModel]:
        """The loaded model, loading it first if needed; it is not unloaded while anyone holds it."""
        self._active += 1
        try:
            model = await self._ensure_loaded()
            yield model
        finally:
            self._active -= 1
            self._last_used = time.monotonic()
            self._activity.set()

    async def _ensure_loaded(self) -> ServedModel:
        async with self._lock:
            if self._model is None:
                async with self._lease("load"):
                    try:
                        self._model = await asyncio.to_thread(self._loader, self.settings)
                    except Exception as exc:
                        log.exception("loading %s failed", self.settings.model)
                        raise ApiError(
                            503,
                            f"model could not be loaded: {exc}",
                            type_="server_error",
                            code="model_load_failed",
                        ) from exc
                self.loads += 1
            return self._model

    async def unload(self) -> bool:
        """Free the model if nobody is using it; True when something was unloaded."""
        async with self._lock:
            if self._model is None or self._active:
                return False
            model, self._model = self._model, None
            await asyncio.to_thread(model.close)
            del model
            self.unloads += 1
            log.info("model unloaded")
            return True

    async def watch_idle(self) -> None:
        """Run for the server's life: unload once nothing has used the model for `idle_unload_s`."""
        idle = self.settings.idle_unload_s
        if idle <= 0:
            return
        while True:
            self._activity.clear()
            if self._model is None or self._active:
                await self._activity.wait()
                continue
            remaining = self._last_used + idle - time.monotonic()
            if remaining <= 0:
                await self.unload()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._activity.wait(), remaining)
