"""Dynamic batching: requests that arrive together share one `generate` call.

A decoder spends most of a step reading weights, so answering eight prompts in one step costs little more
than one. The first request of a batch waits at most `max_wait_ms` for company; requests that arrive
while a batch is generating queue up and form the next batch, so under load batches fill by themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.jobs import GenRequest, GenResult
from tierocr.vlm_server.memory import ModelManager
from tierocr.vlm_server.protocol import ApiError

log = logging.getLogger(__name__)


@dataclass
class Job:
    request: GenRequest
    future: asyncio.Future[GenResult]
    # Streaming jobs get the text pieces here, then None once the result (or error) is in `future`.
    pieces: asyncio.Queue[str | None] | None = None


@dataclass
class BatchStats:
    generate_calls: int = 0
    requests: int = 0
    completion_tokens: int = 0
    sizes: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "generate_calls": self.generate_calls,
            "requests": self.requests,
            "completion_tokens": self.completion_tokens,
            "batch_sizes": {str(k): v for k, v in sorted(self.sizes.items())},
        }


class DynamicBatcher:
    def __init__(self, settings: VlmServerSettings, manager: ModelManager) -> None:
        self.settings = settings
        self.manager = manager
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=settings.max_pending)
        self.stats = BatchStats()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def submit(self, request: GenRequest, *, stream: bool = False) -> Job:
        loop = asyncio.get_running_loop()
        job = Job(request, loop.create_future(), asyncio.Queue() if stream else None)
        if job.pieces is not None:
            pieces = job.pieces
            request.emit = lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text)
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise ApiError(
                503, "server is busy: too many queued requests", type_="server_error", code="overloaded"
            ) from None
        return job

    async def _collect(self) -> list[Job]:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_wait_ms / 1000
        while len(batch) < self.settings.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        live = []
        for job in batch:
            if job.future.done() or job.request.cancelled.is_set():
                self._finish(job, error=ApiError(499, "client went away", code="cancelled"))
            else:
                live.append(job)
        return live

    async def run(self) -> None:
        """Run for the server's life, one batch at a time: the device runs one generate at a time anyway."""
        while True:
            batch = await self._collect()
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[Job]) -> None:
        try:
            async with self.manager.batch() as model:  # the manager takes the GPU lease as policy asks
                results = await asyncio.to_thread(model.generate_batch, [job.request for job in batch])
        except Exception as exc:
            if not isinstance(exc, ApiError):
                log.exception("generate failed for a batch of %d", len(batch))
                exc = ApiError(
                    500, f"generation failed: {exc}", type_="server_error", code="generation_failed"
                )
            for job in batch:
                self._finish(job, error=exc)
            return
        self.stats.generate_calls += 1
        self.stats.requests += len(batch)
        self.stats.sizes[len(batch)] += 1
        for job, result in zip(batch, results, strict=True):
            self.stats.completion_tokens += result.completion_tokens
            self._finish(job, result=result)

    @staticmethod
    def _finish(job: Job, *, result: GenResult | None = None, error: BaseException | None = None) -> None:
        if not job.future.done():
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)  # type: ignore[arg-type]
        if job.pieces is not None:
            job.pieces.put_nowait(None)
