"""Fake Ollama and vLLM servers on 127.0.0.1 that record every call, and a fake NVML they load and free.

Both speak real HTTP (Starlette under uvicorn in a thread), so the release path meets real sockets. The
fakes move memory in the fake NVML as the real servers do: a chat request loads the model under its own
pid, Ollama's unload frees it only after ``unload_lag`` more reads of /api/ps (Ollama unloads in the
background), vLLM's sleep frees it (all but ``leak_mb``, for a server that keeps memory it claims to free).
The pids are beyond Linux's pid_max, so /proc never names them and NVML's process names are used.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import types
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MIB = 1024 * 1024
OLLAMA_PID = 9_900_001
VLLM_ENGINE_PID = 9_900_002
LLM_PID = 9_900_003
ANSWER = "# Invoice\n\nTotal due: 12.50 EUR, payable within 30 days of the invoice date."


class CallLog:
    """Every call and lease event, from every thread, in the order they happened."""

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self.calls: list[str] = []

    def add(self, call: str) -> None:
        with self._mu:
            self.calls.append(call)

    def clear(self) -> None:
        with self._mu:
            self.calls.clear()


class FakeNvml:
    """A `pynvml` stand-in whose memory the fake servers change; install it in ``sys.modules``."""

    def __init__(self, total_mb: int = 24_000, llm_mb: int = 9_000) -> None:
        self._mu = threading.Lock()
        self.total_mb = total_mb
        self.procs: dict[int, tuple[str, int]] = {LLM_PID: ("llama-server", llm_mb)} if llm_mb else {}
        self.module = self._module()

    def load(self, pid: int, name: str, mb: int) -> None:
        with self._mu:
            self.procs[pid] = (name, mb)

    def free(self, pid: int, keep_mb: int = 0) -> None:
        with self._mu:
            if keep_mb and pid in self.procs:
                self.procs[pid] = (self.procs[pid][0], keep_mb)
            else:
                self.procs.pop(pid, None)

    def used_mb(self) -> int:
        with self._mu:
            return sum(mb for _, mb in self.procs.values())

    def _module(self) -> types.ModuleType:
        module = types.ModuleType("pynvml")

        class NVMLError(Exception):
            pass

        def memory(handle: int) -> Any:
            used = self.used_mb()
            return types.SimpleNamespace(
                total=self.total_mb * MIB, used=used * MIB, free=(self.total_mb - used) * MIB
            )

        def processes(handle: int) -> list[Any]:
            with self._mu:
                items = list(self.procs.items())
            return [types.SimpleNamespace(pid=pid, usedGpuMemory=mb * MIB) for pid, (_, mb) in items]

        def name(pid: int) -> bytes:
            with self._mu:
                return self.procs.get(pid, ("?", 0))[0].encode()

        module.NVMLError = NVMLError  # type: ignore[attr-defined]
        module.nvmlInit = lambda: None  # type: ignore[attr-defined]
        module.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
        module.nvmlDeviceGetHandleByIndex = lambda index: index  # type: ignore[attr-defined]
        module.nvmlDeviceGetMemoryInfo = memory  # type: ignore[attr-defined]
        module.nvmlDeviceGetComputeRunningProcesses = processes  # type: ignore[attr-defined]
        module.nvmlSystemGetProcessName = name  # type: ignore[attr-defined]
        return module


def _completion(model: str) -> JSONResponse:
    return JSONResponse(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 12, "total_tokens": 13},
        }
    )


class _Loopback:
    """A Starlette app under uvicorn on a socket bound before the thread starts (no readiness wait)."""

    def __init__(self, routes: list[Route], log: CallLog, nvml: FakeNvml | None) -> None:
        self.log = log
        self.nvml = nvml
        self._mu = threading.Lock()
        self._ready = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        app = Starlette(routes=routes, lifespan=self._lifespan, exception_handlers={404: self._missing})
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._ready.set()
        yield

    async def _missing(self, request: Request, exc: Exception) -> Response:
        """Calls to endpoints this server does not have are recorded too (detection probes, sleep calls)."""
        query = f"?{request.url.query}" if request.url.query else ""
        self.log.add(f"{request.method} {request.url.path}{query} -> 404")
        return JSONResponse({"detail": "Not Found"}, 404)

    def __enter__(self) -> Any:
        self._thread.start()
        if not self._ready.wait(timeout=15):
            raise RuntimeError("fake server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def _full(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class FakeOllama(_Loopback):
    """Ollama's OpenAI route and native chat load the model; `/api/generate` with `keep_alive: 0` and no
    prompt unloads it after ``unload_lag`` reads of `/api/ps`, or never when ``stuck``."""

    def __init__(
        self, log: CallLog, nvml: FakeNvml | None = None, *, unload_lag: int = 1, stuck: bool = False
    ) -> None:
        self.unload_lag = unload_lag
        self.stuck = stuck
        self.loaded: dict[str, int | None] = {}  # model -> ps reads left before it is gone (None: stays)
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/api/chat", self._chat, methods=["POST"]),
            Route("/api/generate", self._generate, methods=["POST"]),
            Route("/api/ps", self._ps, methods=["GET"]),
            Route("/api/version", self._version, methods=["GET"]),
        ]
        super().__init__(routes, log, nvml)

    async def _version(self, request: Request) -> Response:
        self.log.add("GET /api/version")
        return JSONResponse({"version": "0.12.6"})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        model = _full(str(body.get("model")))
        keep = f" keep_alive={body['keep_alive']}" if "keep_alive" in body else ""
        self.log.add(f"POST {request.url.path}{keep}")
        with self._mu:
            self.loaded[model] = None
        if self.nvml is not None:
            self.nvml.load(OLLAMA_PID, "ollama_llama_server", 3_000)
        return _completion(model)

    async def _generate(self, request: Request) -> Response:
        body = await request.json()
        model = _full(str(body.get("model")))
        self.log.add(f"POST /api/generate keep_alive={body.get('keep_alive')}")
        if body.get("keep_alive") == 0 and not body.get("prompt"):
            with self._mu:
                if model in self.loaded and not self.stuck:
                    self.loaded[model] = self.unload_lag
            return JSONResponse({"model": model, "response": "", "done": True, "done_reason": "unload"})
        return JSONResponse({"error": "only the unload call is faked"}, 400)

    async def _ps(self, request: Request) -> Response:
        with self._mu:
            for model, left in list(self.loaded.items()):
                if left is not None and left <= 0:
                    del self.loaded[model]
                    if self.nvml is not None:
                        self.nvml.free(OLLAMA_PID)
                elif left is not None:
                    self.loaded[model] = left - 1
            names = sorted(self.loaded)
        self.log.add(f"GET /api/ps -> {', '.join(names) or '(none)'}")
        models = [{"name": n, "model": n, "size_vram": 3_000 * MIB} for n in names]
        return JSONResponse({"models": models})


class FakeVllm(_Loopback):
    """vLLM with (``sleep_mode``) or without the dev-mode sleep endpoints. Requests while asleep get 503;
    ``ignores_sleep`` accepts /sleep but never sleeps, ``refuses_wake`` answers /wake_up with 500;
    ``leak_mb`` stays on the card through a sleep."""

    def __init__(
        self,
        log: CallLog,
        nvml: FakeNvml | None = None,
        *,
        asleep: bool = False,
        sleep_mode: bool = True,
        ignores_sleep: bool = False,
        refuses_wake: bool = False,
        leak_mb: int = 0,
    ) -> None:
        self.sleeping = asleep
        self.refuses_wake = refuses_wake
        self.sleep_mode = sleep_mode
        self.ignores_sleep = ignores_sleep
        self.leak_mb = leak_mb
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/health", self._health, methods=["GET"]),
            Route("/version", self._version, methods=["GET"]),
        ]
        if sleep_mode:
            routes += [
                Route("/sleep", self._sleep, methods=["POST"]),
                Route("/wake_up", self._wake, methods=["POST"]),
                Route("/is_sleeping", self._is_sleeping, methods=["GET"]),
                Route("/collective_rpc", self._rpc, methods=["POST"]),
            ]
        super().__init__(routes, log, nvml)
        if nvml is not None and not asleep:
            nvml.load(VLLM_ENGINE_PID, "VLLM::EngineCore", 6_000)

    async def _health(self, request: Request) -> Response:
        self.log.add("GET /health")
        return Response(status_code=200)

    async def _version(self, request: Request) -> Response:
        self.log.add("GET /version")
        return JSONResponse({"version": "0.11.0"})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.log.add("POST /v1/chat/completions")
        if self.sleeping:
            return JSONResponse({"error": {"message": "the model is sleeping"}}, 503)
        return _completion(str(body.get("model")))

    async def _sleep(self, request: Request) -> Response:
        level = request.query_params.get("level", "1")
        self.log.add(f"POST /sleep?level={level}")
        if not self.ignores_sleep:
            self.sleeping = True
            if self.nvml is not None:
                self.nvml.free(VLLM_ENGINE_PID, keep_mb=self.leak_mb)
        return Response(status_code=200)

    async def _wake(self, request: Request) -> Response:
        tags = request.query_params.get("tags")
        self.log.add(
            "POST /wake_up" + (f"?tags={tags}" if tags else "") + (" -> 500" if self.refuses_wake else "")
        )
        if self.refuses_wake:
            return Response(status_code=500)
        if tags in (None, "kv_cache"):
            self.sleeping = False
        if self.nvml is not None:
            self.nvml.load(VLLM_ENGINE_PID, "VLLM::EngineCore", 6_000)
        return Response(status_code=200)

    async def _rpc(self, request: Request) -> Response:
        body = await request.json()
        self.log.add(f"POST /collective_rpc {body.get('method')}")
        return JSONResponse({"results": [None]})

    async def _is_sleeping(self, request: Request) -> Response:
        self.log.add(f"GET /is_sleeping -> {str(self.sleeping).lower()}")
        return JSONResponse({"is_sleeping": self.sleeping})


class FakeOpenAI(_Loopback):
    """A plain OpenAI-compatible server (llama.cpp, a hosted API): chat and model list, nothing to free."""

    def __init__(self, log: CallLog, nvml: FakeNvml | None = None) -> None:
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ]
        super().__init__(routes, log, nvml)

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.log.add("POST /v1/chat/completions")
        return _completion(str(body.get("model")))

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "glm-ocr", "object": "model"}]})
