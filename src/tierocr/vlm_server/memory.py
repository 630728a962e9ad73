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

# A lease is taken around loading ("load") and around each batched generate ("generate"), or, when the
# model is unloaded after every batch, once around the whole load, generate and unload ("batch"). The GPU
# lease of tierocr.gpu plugs in here (see `gpu_lease.py`). The default takes nothing.
LeaseFactory = Callable[[str], AbstractAsyncContextManager[object]]
ModelLoader = Callable[[VlmServerSettings], ServedModel]


def no_lease(purpose: str) -> AbstractAsyncContextManager[object]:
    return contextlib.nullcontext()


class ModelManager:
    """Owns the model. With ``unload_after_batch`` (a shared GPU, ``gpu.resident: false``) each batch
    holds one lease across load, generate and unload: separate leases would leave our weights on the card
    while the LLM runs in between."""

    def __init__(
        self,
        settings: VlmServerSettings,
        loader: ModelLoader,
        lease: LeaseFactory,
        *,
        unload_after_batch: bool = False,
    ) -> None:
        self.settings = settings
        self._loader = loader
        self._lease = lease
        self.unload_after_batch = unload_after_batch
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
    async def batch(self) -> AsyncIterator[ServedModel]:
        """The model for one batch, with the lease held as the GPU-sharing policy asks.

        Resident: loaded once (under a "load" lease), and a "generate" lease around each batch. Otherwise
        one "batch" lease spans loading, the batch and the unload, which finishes before the lease goes.
        """
        if not self.unload_after_batch:
            async with self.use() as model, self._lease("generate"):
                yield model
            return
        async with self._lease("batch"):
            try:
                async with self.use(lease_held=True) as model:
                    yield model
            finally:
                await self.unload()

    @contextlib.asynccontextmanager
    async def use(self, *, lease_held: bool = False) -> AsyncIterator[ServedModel]:
        """The loaded model, loading it first if needed; it is not unloaded while anyone holds it.

        ``lease_held``: the caller already holds the lease, which is not re-entrant, so loading takes none.
        """
        self._active += 1
        try:
            model = await self._ensure_loaded(lease_held)
            yield model
        finally:
            self._active -= 1
            self._last_used = time.monotonic()
            self._activity.set()

    async def _ensure_loaded(self, lease_held: bool = False) -> ServedModel:
        async with self._lock:
            if self._model is None:
                async with contextlib.nullcontext() if lease_held else self._lease("load"):
                    try:
                        self._model = await asyncio.to_thread(self._loader, self.settings)
                    except ApiError:
                        raise  # already says what the client should see (e.g. the GPU budget check)
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
