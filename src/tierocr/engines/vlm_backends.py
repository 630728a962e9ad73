"""How each kind of VLM server gives the GPU back after a batch, and which kind sits behind a URL.

Only the server can free its memory, and each does it differently: Ollama keeps a model for `keep_alive`
(5 minutes by default) after its last request unless asked to unload (`keep_alive: 0`); vLLM keeps its
weights and KV cache for good unless put to sleep (started with sleep mode); our vlm-serve unloads on
request. An accepted call is not yet a release, so `release` returns only once the server *reports* the
model gone: Ollama's /api/ps no longer lists it, vLLM's /is_sleeping says true, vlm-serve's /health says
not loaded. Those are status reads without a notification to wait on, so `_wait_for` re-reads them with a
doubling pause, bounded by `vlm.release_timeout_s`: the one place this client polls, for want of an event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from tierocr.config import VlmSettings
from tierocr.engines.vlm import VlmError
from tierocr.gpu.release import CANNOT_RELEASE, FAILED, RELEASED, ReleaseOutcome

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

BackendKind = Literal["tierocr", "ollama", "vllm", "openai"]
KINDS: tuple[BackendKind, ...] = ("tierocr", "ollama", "vllm", "openai")
_FIRST_PAUSE_S = 0.05
_MAX_PAUSE_S = 1.0


def root_url(url: str) -> str:
    """The server's root from an OpenAI base URL: control endpoints live beside /v1, not under it."""
    base = url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class BackendMemo:
    """Detected kinds per URL, kept by a long-lived owner (the pipeline's escalator) across batches, so
    detection costs its probes once rather than per document."""

    def __init__(self) -> None:
        self.kinds: dict[str, BackendKind] = {}


async def _get_json(http: httpx.AsyncClient, url: str, timeout: float) -> tuple[int, Any]:
    import httpx

    try:
        response = await http.get(url, timeout=timeout)
    except httpx.HTTPError:
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


async def detect_backend(http: httpx.AsyncClient, url: str, timeout: float) -> BackendKind | None:
    """The kind of server at ``url`` from the endpoints only it has; None when it cannot be reached.

    Ollama answers /api/version, vlm-serve's /health reports `model_loaded`, vLLM answers /is_sleeping
    (sleep mode) or /version; anything else is a plain OpenAI-compatible server.
    """
    root = root_url(url)
    status, body = await _get_json(http, f"{root}/api/version", timeout)
    if status == 0:
        return None
    if status == 200 and isinstance(body, dict) and "version" in body:
        return "ollama"
    status, body = await _get_json(http, f"{root}/health", timeout)
    if status == 200 and isinstance(body, dict) and "model_loaded" in body:
        return "tierocr"
    status, body = await _get_json(http, f"{root}/is_sleeping", timeout)
    if status == 200 and isinstance(body, dict) and "is_sleeping" in body:
        return "vllm"
    status, body = await _get_json(http, f"{root}/version", timeout)
    if status == 200 and isinstance(body, dict) and "version" in body:
        return "vllm"
    return "openai"


class BackendControl:
    """The plain OpenAI-compatible server: nothing to call, so the model is reported resident."""

    kind: str = "openai"

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: VlmSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.settings = settings
        self.root = root_url(settings.url or "")
        self.server_holds_lease = False
        self._sleep = sleep

    async def probe(self) -> None:
        return None

    async def prepare(self) -> None:
        return None

    async def release(self) -> ReleaseOutcome:
        return ReleaseOutcome(self.kind, CANNOT_RELEASE, "none", "no call frees an OpenAI endpoint's model")

    def release_plan(self) -> str:
        return CANNOT_RELEASE

    async def _call(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A control call; transport failures become VlmError naming the endpoint."""
        import httpx

        wait = self.settings.release_timeout_s if timeout is None else timeout
        try:
            return await self.http.request(method, f"{self.root}{path}", timeout=wait, **kwargs)
        except httpx.HTTPError as exc:
            raise VlmError(f"{method} {self.root}{path} failed: {type(exc).__name__}: {exc}") from exc

    async def _wait_for(self, check: Callable[[], Awaitable[tuple[bool, str]]]) -> tuple[bool, str]:
        """Re-read the server's status until ``check`` says done, or ``release_timeout_s`` passes."""
        deadline = time.monotonic() + self.settings.release_timeout_s
        pause = _FIRST_PAUSE_S
        while True:
            done, seen = await check()
            left = deadline - time.monotonic()
            if done or left <= 0:
                return done, seen
            await self._sleep(min(pause, left))
            pause = min(pause * 2, _MAX_PAUSE_S)

    async def _released(
        self, action: str, check: Callable[[], Awaitable[tuple[bool, str]]]
    ) -> ReleaseOutcome:
        try:
            gone, seen = await self._wait_for(check)
        except VlmError as exc:
            return ReleaseOutcome(self.kind, FAILED, action, str(exc))
        if gone:
            return ReleaseOutcome(self.kind, RELEASED, action, seen)
        timeout = self.settings.release_timeout_s
        return ReleaseOutcome(self.kind, FAILED, action, f"still loaded after {timeout:g} s: {seen}")


def _ollama_name(name: str) -> str:
    """Ollama's full name of a model: the tag defaults to `latest` (`glm-ocr` is `glm-ocr:latest`)."""
    name = name.strip().lower()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


class OllamaControl(BackendControl):
    """Unload with ``keep_alive: 0`` (Ollama's documented unload call), then wait until /api/ps drops it.

    The unload is its own call rather than `keep_alive` on the batch's last request: requests go out
    concurrently, so no request knows it is the last, and a zero keep-alive on every request would unload
    and reload the model between them.
    """

    kind = "ollama"

    def release_plan(self) -> str:
        return "unload (keep_alive 0), checked in /api/ps"

    async def _listed(self) -> tuple[bool, str]:
        response = await self._call("GET", "/api/ps")
        if response.status_code != 200:
            raise VlmError(f"GET {self.root}/api/ps answered {response.status_code}")
        models = response.json().get("models") or []
        names = sorted({str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict)})
        wanted = _ollama_name(self.settings.model)
        listed = any(
            _ollama_name(str(m.get(key, ""))) == wanted
            for m in models
            if isinstance(m, dict)
            for key in ("name", "model")
        )
        return not listed, f"/api/ps lists {names or 'nothing'}"

    async def release(self) -> ReleaseOutcome:
        action = "POST /api/generate keep_alive=0"
        try:
            response = await self._call(
                "POST", "/api/generate", json={"model": self.settings.model, "keep_alive": 0}
            )
        except VlmError as exc:
            return ReleaseOutcome(self.kind, FAILED, action, str(exc))
        if response.status_code not in (200, 404):  # 404: no such model, so nothing is loaded
            return ReleaseOutcome(
                self.kind, FAILED, action, f"answered {response.status_code}: {response.text[:200]}"
            )
        return await self._released(action, self._listed)


class VllmControl(BackendControl):
    """Sleep mode: ``POST /sleep?level=N`` after the batch, ``POST /wake_up`` before the next, each
    confirmed through ``GET /is_sleeping``. Level 2 drops the weights, so its wake reloads them."""

    kind = "vllm"

    def release_plan(self) -> str:
        return f"sleep level {self.settings.sleep_level}, checked in /is_sleeping"

    async def _sleeping(self) -> bool | None:
        response = await self._call("GET", "/is_sleeping")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise VlmError(f"GET {self.root}/is_sleeping answered {response.status_code}")
        return bool(response.json().get("is_sleeping"))

    async def _post(self, path: str, **kwargs: Any) -> None:
        response = await self._call("POST", path, **kwargs)
        if response.status_code != 200:
            raise VlmError(f"POST {self.root}{path} answered {response.status_code}: {response.text[:200]}")

    async def prepare(self) -> None:
        """Wake a sleeping server and wait until it says it is awake; requests to a sleeping vLLM fail."""
        if not await self._sleeping():
            return
        if self.settings.sleep_level == 2:
            await self._post("/wake_up", params={"tags": "weights"})
            await self._post("/collective_rpc", json={"method": "reload_weights"})
            await self._post("/wake_up", params={"tags": "kv_cache"})
        else:
            await self._post("/wake_up")

        async def awake() -> tuple[bool, str]:
            return await self._sleeping() is False, "/is_sleeping"

        done, _ = await self._wait_for(awake)
        if not done:
            wait = self.settings.release_timeout_s
            raise VlmError(f"vLLM at {self.root} did not wake up within {wait:g} s")

    async def release(self) -> ReleaseOutcome:
        level = self.settings.sleep_level
        action = f"POST /sleep?level={level}"
        try:
            response = await self._call("POST", "/sleep", params={"level": level})
        except VlmError as exc:
            return ReleaseOutcome(self.kind, FAILED, action, str(exc))
        if response.status_code == 404:
            return ReleaseOutcome(
                self.kind,
                CANNOT_RELEASE,
                action,
                "this vLLM has no sleep endpoints: start it with --enable-sleep-mode and "
                "VLLM_SERVER_DEV_MODE=1 (`tierocr launch vllm` does both)",
            )
        if response.status_code != 200:
            return ReleaseOutcome(
                self.kind, FAILED, action, f"answered {response.status_code}: {response.text[:200]}"
            )

        async def asleep() -> tuple[bool, str]:
            state = await self._sleeping()
            return state is True, f"/is_sleeping says {state}"

        return await self._released(action, asleep)


class TierocrControl(BackendControl):
    """Our vlm-serve. When it takes the GPU lease itself (on cuda) it already unloads after each of its
    batches under that lease, and the client stays out of the lease; otherwise the client asks it to
    unload (``POST /unload``) and waits until /health says the model is not loaded."""

    kind = "tierocr"

    def release_plan(self) -> str:
        if self.server_holds_lease:
            return "the server unloads under its own lease"
        return "unload, checked in /health"

    async def probe(self) -> None:
        try:
            response = await self._call("GET", "/health", timeout=self.settings.connect_timeout)
            body = response.json() if response.status_code == 200 else {}
        except (VlmError, ValueError):
            body = {}
        self.server_holds_lease = bool(isinstance(body, dict) and body.get("gpu_lease"))

    async def _unloaded(self) -> tuple[bool, str]:
        response = await self._call("GET", "/health")
        loaded = response.json().get("model_loaded") if response.status_code == 200 else None
        return loaded is False, f"/health model_loaded={loaded}"

    async def release(self) -> ReleaseOutcome:
        action = "POST /unload"
        try:
            response = await self._call("POST", "/unload")
        except VlmError as exc:
            return ReleaseOutcome(self.kind, FAILED, action, str(exc))
        if response.status_code != 200:
            return ReleaseOutcome(
                self.kind, FAILED, action, f"answered {response.status_code}: {response.text[:200]}"
            )
        return await self._released(action, self._unloaded)


class UnknownControl(BackendControl):
    """Detection found no server: its kind, and so how to free it, is unknown; never called released."""

    kind = "unknown"

    async def release(self) -> ReleaseOutcome:
        return ReleaseOutcome(
            self.kind, FAILED, "none", f"{self.root} could not be reached to detect its kind"
        )

    def release_plan(self) -> str:
        return "unknown: the endpoint could not be reached"


_CONTROLS: dict[str, type[BackendControl]] = {
    "openai": BackendControl,
    "ollama": OllamaControl,
    "vllm": VllmControl,
    "tierocr": TierocrControl,
}


async def backend_control(
    http: httpx.AsyncClient,
    settings: VlmSettings,
    *,
    memo: BackendMemo | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> BackendControl:
    """The control for ``settings.backend``, detecting the kind first when it is ``auto``."""
    kind = settings.backend
    if kind == "auto":
        url = settings.url or ""
        known = memo.kinds.get(url) if memo is not None else None
        if known is None:
            known = await detect_backend(http, url, settings.connect_timeout)
            if known is not None and memo is not None:
                memo.kinds[url] = known
            log.info("VLM endpoint %s: detected %s", url, known or "nothing (unreachable)")
        if known is None:
            return UnknownControl(http, settings, sleep=sleep)
        kind = known
    return _CONTROLS[kind](http, settings, sleep=sleep)


async def describe_backend(http: httpx.AsyncClient, settings: VlmSettings) -> dict[str, Any]:
    """The server's kind and what a leased batch does to it afterwards, for /health and `gpu status`."""
    control = await backend_control(http, settings)
    await control.probe()
    return {
        "backend": control.kind,
        "configured": settings.backend,
        "release": control.release_plan(),
        "use_lease": settings.use_lease,
    }
