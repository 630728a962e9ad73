"""The same page tasks on a Ray cluster: classical reads on CPU actors, escalation on a GPU when there is one.

Each reader is an actor holding one pipeline (models load once per actor, not per page) and asking Ray
for one CPU; it runs :func:`~tierocr.batch.work.read_page`, the function the local workers run, so a
page reads the same on Ray as locally. When the cluster has GPUs and a VLM is configured, escalation
windows go to one actor that asks for ``batch.ray_escalation_gpus`` (it lands on a GPU node, beside
the VLM, and holds the GPU lease there); otherwise they are sent from the coordinating process, as
locally. The coordinator stays the one writer of the job store, which stays the source of truth: a run
started locally can be resumed on Ray and the other way round.

Documents are opened by path: on a multi-node cluster the input folder must be mounted at the same
path on every node, like the output folder.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tierocr.batch.work import PageResult, PageTask, peak_rss_bytes, read_page
from tierocr.config import Settings
from tierocr.document import Page
from tierocr.errors import TierOcrError

log = logging.getLogger(__name__)


class RayUnavailableError(TierOcrError):
    """Ray is not installed, or the cluster cannot be reached."""


class PageReader:
    """A Ray actor's body: one pipeline, many pages."""

    def __init__(self, settings: Settings) -> None:
        from tierocr.pipeline import Pipeline

        self._pipeline = Pipeline(settings)

    def read(self, task: PageTask) -> PageResult:
        return read_page(self._pipeline, task)

    def peak_rss(self) -> int:
        return peak_rss_bytes()


class WindowEscalator:
    """A Ray actor's body: the escalator (its circuit breaker, its GPU lease) for every window."""

    def __init__(self, settings: Settings) -> None:
        from tierocr.pipeline import Pipeline

        self._pipeline = Pipeline(settings)

    def escalate(self, items: list[PageResult]) -> list[Page]:
        return list(self._pipeline.escalate(items))


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError("--ray needs Ray: pip install 'tierocr[ray]'") from exc
    return ray


class RayWorkers:
    """Page readers on a Ray cluster, with the interface of :class:`~tierocr.batch.local.LocalWorkers`."""

    def __init__(self, settings: Settings, address: str, workers: int = 0, per_worker: int = 2) -> None:
        ray = _ray()
        self._ray = ray
        self._settings = settings
        self._per_worker = per_worker
        self._owns = False
        if not ray.is_initialized():
            try:
                ray.init(
                    address=None if address == "auto" else address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RayUnavailableError(f"--ray {address}: cannot reach the cluster: {exc}") from exc
            self._owns = True
        resources = ray.cluster_resources()
        count = workers or max(1, int(resources.get("CPU", 1)))
        self._reader_cls = ray.remote(num_cpus=1)(PageReader)
        self._lock = threading.Lock()
        self._actors: list[Any] = [self._reader_cls.remote(settings) for _ in range(count)]
        self._count = count
        self._outstanding: dict[int, int] = {id(a): 0 for a in self._actors}
        gpus = float(resources.get("GPU", 0))
        self._remote_escalator: Any = None
        self._local_escalation: ThreadPoolExecutor | None = None
        self._local_escalator: Any = None
        escalating = settings.vlm.escalate != "never" and settings.vlm.url is not None
        if escalating and gpus > 0 and settings.batch.ray_escalation_gpus > 0:
            remote = ray.remote(num_cpus=0, num_gpus=settings.batch.ray_escalation_gpus)(WindowEscalator)
            self._remote_escalator = remote.remote(settings)
        else:
            self._local_escalation = ThreadPoolExecutor(1, thread_name_prefix="tierocr-escalation")
        self.gpus = gpus

    @property
    def capacity(self) -> int:
        return self._count * self._per_worker

    @property
    def label(self) -> str:
        where = "on GPU" if self._remote_escalator is not None else "from this process"
        return f"{self._count} Ray actor(s), escalation {where}"

    def submit(self, task: PageTask) -> Future[PageResult]:
        with self._lock:
            actor = min(self._actors, key=lambda a: self._outstanding[id(a)])
            self._outstanding[id(actor)] += 1
        future: Future[PageResult] = actor.read.remote(task).future()
        future.add_done_callback(lambda f, a=actor: self._done(a, f))
        return future

    def _done(self, actor: Any, future: Future[PageResult]) -> None:
        """Count the page off its actor; an actor that died is replaced (its page is retried upstream)."""
        exc = future.exception()
        with self._lock:
            if id(actor) not in self._outstanding:
                return
            self._outstanding[id(actor)] -= 1
            if exc is not None and isinstance(exc, self._ray.exceptions.RayActorError):
                log.error("a Ray page reader died (%s); starting another", exc)
                index = self._actors.index(actor)
                del self._outstanding[id(actor)]
                fresh = self._reader_cls.remote(self._settings)
                self._actors[index] = fresh
                self._outstanding[id(fresh)] = 0

    def escalate(self, items: list[PageResult]) -> Future[list[Page]]:
        if self._remote_escalator is not None:
            future: Future[list[Page]] = self._remote_escalator.escalate.remote(items).future()
            return future
        assert self._local_escalation is not None
        return self._local_escalation.submit(self._escalate_here, items)

    def _escalate_here(self, items: list[PageResult]) -> list[Page]:
        if self._local_escalator is None:
            from tierocr.pipeline import Pipeline

            self._local_escalator = Pipeline(self._settings)
        return list(self._local_escalator.escalate(items))

    def peak_rss(self) -> list[int]:
        try:
            return [int(x) for x in self._ray.get([a.peak_rss.remote() for a in self._actors], timeout=30)]
        except Exception:  # a report only: an actor gone does not fail the run
            log.warning("could not read the Ray actors' memory", exc_info=True)
            return []

    def close(self) -> None:
        if self._local_escalation is not None:
            self._local_escalation.shutdown(wait=True, cancel_futures=True)
        for actor in [*self._actors, self._remote_escalator]:
            if actor is not None:
                self._ray.kill(actor)
        self._actors = []
        if self._owns:
            self._ray.shutdown()
