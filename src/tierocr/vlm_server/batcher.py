"""Dynamic batching: requests that arrive together share one `generate` call.

A decoder spends most of a step reading weights, so answering eight prompts in one step costs little more
than one. The first request of a batch waits at most `max_wait_ms` for company; requests that arrive
while a batch is generating queue up and form the next batch, so under load batches fill by themselves.
Each row has a deadline (`generation_timeout_s`, then 504) and a prompt-token limit checked before
`generate`; the time the running `generate` has taken is what /health reports as a stuck worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.jobs import GenRequest, GenResult, PromptTooLongError, ServedModel
from tierocr.vlm_server.memory import ModelManager
from tierocr.vlm_server.protocol import ApiError

log = logging.getLogger(__name__)
T = TypeVar("T")


def in_daemon_thread(fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
    """``fn(*args)`` in a daemon thread, as a future of this loop.

    Not `asyncio.to_thread`: the default executor's threads are joined when the process exits, so one
    generate stuck in a step (a huge prefill) would keep a SIGTERM'd server alive for minutes.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return  # the awaiting task was cancelled meanwhile
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # handed to the awaiting task, which decides
            result, error = None, exc
        # RuntimeError: the loop closed first; the process is shutting down and nobody waits any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="vlm-generate", daemon=True).start()
    return future


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
        self.generating_since: float | None = None
        self._running: list[Job] = []
        self._stopping = False

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def submit(self, request: GenRequest, *, stream: bool = False) -> Job:
        if self._stopping:
            raise ApiError(503, "server is shutting down", type_="server_error", code="shutting_down")
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

    def stop(self) -> None:
        """Shutdown: queued requests are refused and running rows stop at their next token."""
        self._stopping = True
        for job in self._running:
            job.request.cancelled.set()
        while not self._queue.empty():
            job = self._queue.get_nowait()
            error = ApiError(503, "server is shutting down", type_="server_error", code="shutting_down")
            self._finish(job, error=error)

    def busy_seconds(self) -> float | None:
        """How long the `generate` call now running has been running (None when idle)."""
        since = self.generating_since
        return None if since is None else time.monotonic() - since

    async def _run_batch(self, batch: list[Job]) -> None:
        deadline = time.monotonic() + self.settings.generation_timeout_s
        for job in batch:
            job.request.deadline = deadline
            job.request.max_prompt_tokens = self.settings.max_prompt_tokens
        try:
            async with self.manager.batch() as model:  # the manager takes the GPU lease as policy asks
                done = await self._generate(model, batch)
        except Exception as exc:
            if not isinstance(exc, ApiError):
                log.exception("generate failed for a batch of %d", len(batch))
                exc = ApiError(
                    500, f"generation failed: {exc}", type_="server_error", code="generation_failed"
                )
            for job in batch:
                self._finish(job, error=exc)
            return
        if done:
            self.stats.generate_calls += 1
            self.stats.requests += len(done)
            self.stats.sizes[len(done)] += 1
        for job, result in done:
            self.stats.completion_tokens += result.completion_tokens
            if result.finish_reason == "timeout":
                limit = self.settings.generation_timeout_s
                error = ApiError(
                    504,
                    f"generation took longer than this server's {limit:g} s limit",
                    type_="server_error",
                    code="generation_timeout",
                )
                self._finish(job, error=error)
            else:
                self._finish(job, result=result)

    async def _generate(self, model: ServedModel, batch: list[Job]) -> list[tuple[Job, GenResult]]:
        """One `generate` for the batch; rows whose prompt is over the token limit are failed and left out."""
        live = batch
        while live:
            self._running = live
            self.generating_since = time.monotonic()
            try:
                results = await in_daemon_thread(model.generate_batch, [job.request for job in live])
            except PromptTooLongError as exc:
                for row, tokens in exc.rows.items():
                    limit = self.settings.max_prompt_tokens
                    message = f"the prompt is {tokens} tokens with its images; this server's limit is {limit}"
                    self._finish(live[row], error=ApiError(400, message, code="prompt_too_long"))
                live = [job for row, job in enumerate(live) if row not in exc.rows]
                continue
            finally:
                self.generating_since = None
                self._running = []
            return list(zip(live, results, strict=True))
        return []

    @staticmethod
    def _finish(job: Job, *, result: GenResult | None = None, error: BaseException | None = None) -> None:
        if not job.future.done():
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)  # type: ignore[arg-type]
        if job.pieces is not None:
            job.pieces.put_nowait(None)
