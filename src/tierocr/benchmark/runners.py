"""One request to a target, many at once, and a whole document: the same three calls for every kind.

Classical tiers are the evaluation's systems (:class:`TierocrSystem`, :class:`BareEngineSystem`); several
requests at once are served by ``min(concurrency, server.workers)`` of them, one per worker thread, as
`tierocr serve` does (a pipeline is not shared between threads). Endpoints go through the escalation's
own :class:`VlmClient` on an event loop of their own, so a sync caller can time them like the rest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tierocr.benchmark.targets import Target, TargetError
from tierocr.config import InputSettings, Settings
from tierocr.document import Document
from tierocr.errors import TierOcrError

if TYPE_CHECKING:
    from PIL import Image

    from tierocr.engines.vlm import VlmClient
    from tierocr.evaluation.corpus import ManifestRow
    from tierocr.evaluation.systems import SystemFn

T = TypeVar("T")
OnDone = Callable[["Reading"], None]


@dataclass
class Reading:
    """One request: its wall time, the tokens the server reported, its text or why it failed."""

    seconds: float
    text: str = ""
    tokens: int | None = None
    error: str | None = None


def _failed(started: float, exc: BaseException) -> Reading:
    return Reading(time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")


def page_count(path: Path, settings: InputSettings) -> int:
    from tierocr.inputs import open_document

    with open_document(path, settings) as loaded:
        return len(loaded.selected)


class ClassicalRunner:
    """A classical tier through the evaluation's system callables."""

    def __init__(self, target: Target, settings: Settings, rows: list[ManifestRow]) -> None:
        self.target = target
        self.settings = target.pipeline_settings(settings)
        self._languages: dict[Path, list[str]] = {}
        if target.kind == "tierocr":
            from tierocr.evaluation.cli import manifest_languages

            self._languages = manifest_languages(rows)
        self.system = self._new_system()
        self._extra: list[SystemFn] = []
        self.model: str | None = None  # a classical tier serves no named model

    def _new_system(self) -> SystemFn:
        from tierocr.evaluation.systems import BareEngineSystem, TierocrSystem

        if self.target.kind == "engine":
            return BareEngineSystem(self.settings, self.target.engine or "")
        return TierocrSystem(self.settings, name=self.target.name, languages=self._languages)

    def cold(self, path: Path) -> tuple[Reading, str]:
        """The first request of a fresh process; the caller times it from the process's spawn."""
        return self.read(path), "process start to first answer (imports and model loading included)"

    def read(self, path: Path, system: SystemFn | None = None) -> Reading:
        started = time.perf_counter()
        try:
            markdown, _ = (system or self.system)(path, None)
        except Exception as exc:  # a failed request is a measurement, not the end of the benchmark
            return _failed(started, exc)
        return Reading(time.perf_counter() - started, markdown)

    def workers(self, concurrency: int) -> int:
        return min(concurrency, self.settings.server.workers)

    def read_many(self, paths: list[Path], concurrency: int, on_done: OnDone) -> tuple[float, list[Reading]]:
        """All ``paths`` with ``concurrency`` in flight; returns the wall time and each reading.

        Extra pipelines are built and warmed on the first image before the clock starts: their model
        loading is a cold start, not throughput.
        """
        workers = self.workers(concurrency)
        while len(self._extra) < workers - 1:
            extra = self._new_system()
            self.read(paths[0], extra)
            self._extra.append(extra)
        idle: queue.Queue[SystemFn] = queue.Queue()
        for system in [self.system, *self._extra[: workers - 1]]:
            idle.put(system)

        def one(path: Path) -> Reading:
            system = idle.get()
            try:
                reading = self.read(path, system)
            finally:
                idle.put(system)
            on_done(reading)
            return reading

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="bench") as pool:
            readings = list(pool.map(one, paths))
        return time.perf_counter() - started, readings

    def document_system(self) -> SystemFn:
        return self.system

    def close(self) -> None:
        self._extra.clear()


def _first_image(path: Path, settings: InputSettings) -> Image.Image:
    from tierocr.inputs import open_document

    with open_document(path, settings) as loaded:
        for page in loaded.iter_pages():
            return page.image.copy()
    raise TierOcrError(f"{path}: no page")


class _VlmSystem:
    """An endpoint as an evaluation system: every page of the document read whole, joined by blank lines."""

    def __init__(self, runner: VlmRunner) -> None:
        self.name = runner.target.name
        self._runner = runner

    def __call__(self, path: Path, pages: str | None = None) -> tuple[str, Document | None]:
        return self._runner.submit(self._runner.document(path, pages)), None


class VlmRunner:
    """An OpenAI-compatible endpoint with a model profile, through the escalation's client."""

    def __init__(self, target: Target, settings: Settings, max_concurrency: int) -> None:
        self.target = target
        self.settings = settings
        vlm = target.vlm_settings(settings)
        self.vlm = vlm.model_copy(update={"max_concurrency": max(max_concurrency, vlm.max_concurrency)})
        self.model: str | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-vlm", daemon=True)
        self._thread.start()
        # Rasterising stays on one thread: a PDF's pages are read by the thread that opened it.
        self._render = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bench-render")
        self._client: VlmClient | None = None
        try:
            self._client = self.submit(self._open())
        except BaseException:
            self.close()
            raise

    def submit(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def client(self) -> VlmClient:
        if self._client is None:
            raise TargetError(f"{self.target.spec}: the client is closed")
        return self._client

    async def _open(self) -> VlmClient:
        from tierocr.engines.vlm import VlmClient

        if self.target.endpoint is not None and self.target.endpoint.model is None:
            self.vlm = self.vlm.model_copy(update={"model": await self._served_model()})
        self.model = self.vlm.model
        return VlmClient(self.vlm)

    async def _served_model(self) -> str:
        """The first model /v1/models lists: what a target that names no model is measuring."""
        import httpx

        url = f"{(self.vlm.url or '').rstrip('/')}/models"
        headers = {}
        if self.vlm.api_key is not None:
            headers["Authorization"] = f"Bearer {self.vlm.api_key.get_secret_value()}"
        try:
            async with httpx.AsyncClient(timeout=self.vlm.connect_timeout * 4) as http:
                response = await http.get(url, headers=headers)
            models = (response.json().get("data") or []) if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise TargetError(f"{self.target.spec}: cannot list models at {url}: {exc}") from exc
        if not models or not isinstance(models[0], dict) or not models[0].get("id"):
            raise TargetError(
                f"{self.target.spec}: {url} lists no model (HTTP {response.status_code}); add ?model=NAME"
            )
        return str(models[0]["id"])

    def cold(self, path: Path) -> tuple[Reading, str]:
        """The first request after the server gave its model up (when it can), wake-up included."""
        return self.submit(self._cold(path))

    async def _cold(self, path: Path) -> tuple[Reading, str]:
        from tierocr.engines.vlm_backends import backend_control

        method = "first request of this run (no release asked)"
        control = None
        if self.settings.bench.cold_release:
            control = await backend_control(self.client.http, self.vlm)
            await control.probe()
            outcome = await control.release()
            method = f"{control.kind}: {outcome.action} -> {outcome.status}, then the first request"
        started = time.perf_counter()
        if control is not None:
            try:
                await control.prepare()
            except TierOcrError as exc:
                return _failed(started, exc), method
        reading = await self._read(path)
        reading.seconds = time.perf_counter() - started
        return reading, method

    async def _read(self, path: Path) -> Reading:
        from tierocr.engines.vlm_profiles import Task

        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            image = await loop.run_in_executor(self._render, _first_image, path, self.settings.input)
            answer = await self.client.recognize(image, Task.PAGE)
        except Exception as exc:  # a failed request is a measurement, not the end of the benchmark
            return _failed(started, exc)
        return Reading(time.perf_counter() - started, answer.text, answer.completion_tokens)

    def read(self, path: Path) -> Reading:
        return self.submit(self._read(path))

    def workers(self, concurrency: int) -> int:
        return concurrency

    def read_many(self, paths: list[Path], concurrency: int, on_done: OnDone) -> tuple[float, list[Reading]]:
        return self.submit(self._many(paths, concurrency, on_done))

    async def _many(
        self, paths: list[Path], concurrency: int, on_done: OnDone
    ) -> tuple[float, list[Reading]]:
        slots = asyncio.Semaphore(concurrency)

        async def one(path: Path) -> Reading:
            async with slots:
                reading = await self._read(path)
            on_done(reading)
            return reading

        started = time.perf_counter()
        readings = await asyncio.gather(*(one(p) for p in paths))
        return time.perf_counter() - started, list(readings)

    async def document(self, path: Path, pages: str | None) -> str:
        """Every page read whole, at most ``max_concurrency`` in flight, rasterised as slots free."""
        from tierocr.engines.vlm_normalize import unwrap_fence
        from tierocr.engines.vlm_profiles import Task
        from tierocr.inputs import open_document

        loop = asyncio.get_running_loop()
        render = self._render
        loaded = await loop.run_in_executor(
            render, lambda: open_document(path, self.settings.input, pages=pages)
        )
        slots = asyncio.Semaphore(self.vlm.max_concurrency)
        pages_iter = loaded.iter_pages()

        def next_image() -> Image.Image | None:
            page = next(pages_iter, None)
            return None if page is None else page.image.copy()

        async def read(image: Image.Image) -> str:
            try:
                return unwrap_fence((await self.client.recognize(image, Task.PAGE)).text)
            finally:
                slots.release()

        tasks: list[asyncio.Task[str]] = []
        try:
            async with asyncio.TaskGroup() as group:
                while True:
                    await slots.acquire()
                    image = await loop.run_in_executor(render, next_image)
                    if image is None:
                        slots.release()
                        break
                    tasks.append(group.create_task(read(image)))
        except ExceptionGroup as failed:  # the first page that failed fails the document, as in eval
            raise failed.exceptions[0] from None
        finally:
            await loop.run_in_executor(render, loaded.close)
        return "\n\n".join(task.result() for task in tasks)

    def document_system(self) -> SystemFn:
        return _VlmSystem(self)

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self.submit(client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._render.shutdown(wait=True)
        self._loop.close()


def make_runner(target: Target, settings: Settings, rows: list[ManifestRow], max_concurrency: int) -> Runner:
    if target.kind == "vlm":
        return VlmRunner(target, settings, max_concurrency)
    return ClassicalRunner(target, settings, rows)


Runner = ClassicalRunner | VlmRunner
