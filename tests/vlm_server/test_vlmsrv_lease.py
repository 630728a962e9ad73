"""The GPU lease in the real server: a tiny model on the CPU with `use_lease: always` and a file lease in
tmp_path, contended by "the LLM" (this test process) through the same lease. Sequencing uses the lease's
own queue and events, never sleeps: the server's lease request announces itself in a debug log record."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlm_server_helpers import Hooks, RunningServer, png_data_uri, settings_for

from tierocr.config import GpuSettings, VlmServerSettings
from tierocr.gpu import create_lease
from tierocr.gpu.budget import GpuMemory
from tierocr.vlm_server.gpu_lease import build_app, estimate_weights_mb, lease_wanted
from tierocr.vlm_server.testing import serve_in_thread

WAIT_S = 60  # generous upper bounds for a loaded 2-core machine; events end the waits far sooner


def _gpu(tmp_path: Path, **extra: Any) -> GpuSettings:
    return GpuSettings(backend="file", lock_dir=tmp_path / "locks", lease="vlmtest", **extra)


def _body(max_tokens: int = 2) -> dict[str, Any]:
    content = [{"type": "image_url", "image_url": {"url": png_data_uri()}}, {"type": "text", "text": "OCR"}]
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens}


class EventLog:
    """Named moments from several threads, in the order they happened."""

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self.names: list[str] = []

    def add(self, name: str) -> None:
        with self._mu:
            self.names.append(name)

    def before(self, first: str, second: str) -> bool:
        return self.names.index(first) < self.names.index(second)


@contextmanager
def serving(settings: VlmServerSettings, gpu: GpuSettings, hooks: Hooks, loader: Any = None) -> Iterator[Any]:
    app, lease = build_app(settings, gpu, loader=loader or hooks.loader)
    assert lease is not None, "use_lease: always must take the lease on the CPU too"
    url, stop = serve_in_thread(app)
    try:
        yield RunningServer(url, app, hooks)
    finally:
        stop()
        lease.close()


@contextmanager
def server_queued() -> Iterator[threading.Event]:
    """An event set once the server's lease request stands in the lease's queue."""
    event = threading.Event()

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("queued for GPU lease"):
                event.set()

    logger = logging.getLogger("tierocr.vlm_server.gpu_lease")
    spy, level = Spy(logging.DEBUG), logger.level
    logger.addHandler(spy)
    logger.setLevel(logging.DEBUG)
    try:
        yield event
    finally:
        logger.removeHandler(spy)
        logger.setLevel(level)


class Request(threading.Thread):
    """One completion request on its own thread; `done` is set when the answer is in."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.done = threading.Event()
        self.response: httpx.Response | None = None

    def run(self) -> None:
        try:
            self.response = httpx.post(f"{self.url}/v1/chat/completions", json=_body(), timeout=WAIT_S)
        finally:
            self.done.set()


def test_vlmsrv_lease_is_taken_on_cuda_or_when_asked() -> None:
    assert lease_wanted(VlmServerSettings(device="cuda")) is True
    assert lease_wanted(VlmServerSettings(device="cpu")) is False
    assert lease_wanted(VlmServerSettings(device="cpu", use_lease="always")) is True
    assert lease_wanted(VlmServerSettings(device="cuda", use_lease="never")) is False


def test_vlmsrv_request_waits_while_the_llm_holds_the_lease(tiny_model: Path, tmp_path: Path) -> None:
    gpu = _gpu(tmp_path, resident=True)
    llm = create_lease(None, gpu)
    settings = settings_for(tiny_model, use_lease="always")
    with serving(settings, gpu, Hooks()) as running, server_queued() as queued, running.client() as c:
        with llm.acquire(timeout=WAIT_S):
            request = Request(running.url)
            request.start()
            assert queued.wait(WAIT_S), "the server never asked for the lease"
            # The lease is ours, so the server can neither load nor answer yet.
            assert not request.done.is_set()
            assert c.get("/health").json()["model_loaded"] is False
        assert request.done.wait(WAIT_S)
        health = c.get("/health").json()
    llm.close()
    assert request.response is not None and request.response.status_code == 200
    assert request.response.json()["usage"]["completion_tokens"] == 2
    # gpu.resident: the model stays loaded after the batch.
    assert health["model_loaded"] is True and health["unloads"] == 0


def test_vlmsrv_model_leaves_before_the_lease_does(tiny_model: Path, tmp_path: Path) -> None:
    gpu = _gpu(tmp_path)
    assert gpu.resident is False
    events = EventLog()
    hooks = Hooks()

    def loader(settings: VlmServerSettings) -> Any:
        model = hooks.loader(settings)
        events.add("loaded")
        close = model.close

        def close_and_log() -> None:
            close()
            events.add("unloaded")

        model.close = close_and_log
        return model

    llm, next_llm = create_lease(None, gpu), create_lease(None, gpu)
    seen: dict[str, Any] = {}
    next_queued = threading.Event()

    def next_llm_request(url: str) -> None:
        """Queued behind the server: it gets the lease exactly when the server lets go of it."""
        with next_llm.acquire(timeout=WAIT_S, on_queued=next_queued.set):
            events.add("lease handed over")
            seen.update(httpx.get(f"{url}/health", timeout=WAIT_S).json())

    settings = settings_for(tiny_model, use_lease="always")
    with serving(settings, gpu, hooks, loader) as running, server_queued() as queued:
        request = Request(running.url)
        waiter = threading.Thread(target=next_llm_request, args=(running.url,), daemon=True)
        with llm.acquire(timeout=WAIT_S):
            request.start()
            assert queued.wait(WAIT_S), "the server never asked for the lease"
            waiter.start()
            assert next_queued.wait(WAIT_S)
            events.add("llm released")
        waiter.join(WAIT_S)
        assert request.done.wait(WAIT_S)
    llm.close()
    next_llm.close()
    assert request.response is not None and request.response.status_code == 200
    assert events.names.count("loaded") == 1 and events.names.count("lease handed over") == 1
    assert events.before("llm released", "loaded")
    assert events.before("loaded", "unloaded")
    assert events.before("unloaded", "lease handed over"), events.names
    # What the next lease holder sees: the model is off the card, unloaded once by the batch itself.
    assert seen["model_loaded"] is False
    assert seen["loads"] == 1 and seen["unloads"] == 1


def test_vlmsrv_lease_timeout_is_an_openai_503(tiny_model: Path, tmp_path: Path) -> None:
    gpu = _gpu(tmp_path, acquire_timeout_s=0.5)
    llm = create_lease(None, gpu)
    settings = settings_for(tiny_model, use_lease="always")
    with serving(settings, gpu, Hooks()) as running, running.client() as c:
        with llm.acquire(timeout=WAIT_S):
            busy = c.post("/v1/chat/completions", json=_body())
        # The abandoned wait does not wedge the lease: once free, the same server answers.
        after = c.post("/v1/chat/completions", json=_body())
    llm.close()
    assert busy.status_code == 503
    error = busy.json()["error"]
    assert error["type"] == "server_busy" and error["code"] == "gpu_busy"
    assert "busy" in error["message"] and "vlmtest" in error["message"]
    assert after.status_code == 200


def test_vlmsrv_model_that_does_not_fit_gets_503(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On cuda the budget check runs under the lease before loading; here NVML reports a nearly full card."""
    monkeypatch.setattr(
        "tierocr.gpu.budget.gpu_memory", lambda device: GpuMemory(device, 8192.0, 100.0, 8092.0)
    )
    gpu = _gpu(tmp_path, headroom_mb=512)
    hooks = Hooks()
    settings = settings_for(tiny_model, device="cuda", use_lease="always")
    with serving(settings, gpu, hooks) as running, running.client() as c:
        r = c.post("/v1/chat/completions", json=_body())
        health = c.get("/health").json()
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "insufficient_gpu_memory"
    assert "512 MiB headroom" in error["message"] and "100 MiB" in error["message"]
    assert health["model_loaded"] is False and hooks.weights == []  # the loader never ran
    with create_lease(None, gpu).acquire(timeout=5):  # and the lease was given back
        pass


def test_vlmsrv_weight_estimate_follows_the_load_dtype(tiny_model: Path) -> None:
    """The tiny checkpoint is stored in float32: loading it in half precision needs about half the bytes."""
    on_disk = sum(p.stat().st_size for p in tiny_model.glob("*.safetensors")) / 2**20
    full, half = estimate_weights_mb(tiny_model, 4), estimate_weights_mb(tiny_model, 2)
    assert full is not None and half is not None
    assert 0.9 * on_disk < full <= on_disk
    assert half == pytest.approx(full / 2, rel=0.02)
