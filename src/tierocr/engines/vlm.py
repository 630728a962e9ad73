"""An async client for OpenAI-compatible vision-language servers (vLLM, Ollama, our vlm-serve).

The classical tier must never wait on, or be lost to, a sick model server, so the client is defensive:
bounded concurrency (one semaphore, one pooled connection per slot), one deadline and a size cap per
answer, retries with exponential backoff and jitter that honour ``Retry-After``, a circuit breaker that
fails fast while the server is down, and a check for generations stuck in a repetition loop (cut,
retried once with a stronger penalty, else refused). Every failure surfaces as a :class:`VlmError`,
which escalation turns into "classical page kept".
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from tierocr.config import VlmSettings
from tierocr.engines.vlm_normalize import Repetition, cut_loop, find_tail_loop
from tierocr.engines.vlm_profiles import Task, VlmProfile, get_profile
from tierocr.errors import TierOcrError

if TYPE_CHECKING:
    import httpx
    from PIL import Image

#: Status codes worth another attempt: the server is busy or broken for now, not refusing the request.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Images admitted (encoded, held) per request slot; implementation constants, not user settings.
_ADMISSION_FACTOR = 2
_MAX_ENCODER_THREADS = 4


class VlmError(TierOcrError):
    """The VLM tier could not produce an answer; the classical result stands."""


class VlmUnavailableError(VlmError):
    """The circuit is open: the server failed repeatedly and is left alone for a cooldown."""


class VlmRequestError(VlmError):
    """A request failed for good (retries spent, or a non-retryable answer)."""


class VlmRepetitionError(VlmError):
    """The model looped even with a stronger repetition penalty; ``partial`` is its answer, loop cut."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True, slots=True)
class VlmAnswer:
    text: str
    model: str
    attempts: int
    finish_reason: str | None = None
    loop_cut: bool = False
    #: Tokens the server says it generated (``usage.completion_tokens``); None when it does not say.
    completion_tokens: int | None = None


class CircuitBreaker:
    """Closed → (K consecutive failures) → open → (cooldown) → half-open: one probe decides.

    Lives outside the client so one breaker can span many batches (documents) of a process.
    """

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()  # one breaker may serve batches running in several threads

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """Whether a request may go out now; in half-open state only one probe at a time."""
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "half-open" and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def abandon(self) -> None:
        """A request ended without a verdict on the server (cancelled): let another probe go."""
        with self._lock:
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._probing = False


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds, from either of its forms (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def encode_image(image: Image.Image, fmt: str, max_side: int, jpeg_quality: int) -> str:
    """The image as a data URI, scaled down so its longer side is at most ``max_side``."""
    img = image if image.mode in ("RGB", "L") else image.convert("RGB")
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, format="JPEG", quality=jpeg_quality)
        mime = "image/jpeg"
    else:
        img.save(buf, format="PNG", compress_level=1)
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


class VlmClient:
    """One pooled async HTTP client for a VLM endpoint; use as ``async with VlmClient(settings) as c``.

    ``sleep`` and ``rng`` are injectable so tests can check backoff delays without waiting for them.
    """

    def __init__(
        self,
        settings: VlmSettings,
        *,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not settings.url:
            raise VlmError("no VLM endpoint configured (set vlm.url / TIEROCR_VLM_URL)")
        import httpx

        self.settings = settings
        self.profile: VlmProfile = get_profile(settings.profile)
        self.breaker = breaker or CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        # Admission bounds images encoded and held in memory: a few more than are on the wire, so the next
        # request is ready when a slot frees, and encoding is paced by completions instead of done all
        # at once up front (which starves the event loop of a 2-core machine).
        self._admission = asyncio.Semaphore(_ADMISSION_FACTOR * settings.max_concurrency)
        # Few encoder threads, FIFO: the first images are ready first instead of all sharing the CPU.
        threads = max(1, min(_MAX_ENCODER_THREADS, os.cpu_count() or 1))
        self._encoder = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="vlm-encode")
        headers = {"Content-Type": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._http = httpx.AsyncClient(
            base_url=settings.url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
            ),
            transport=transport,
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled HTTP client, also for the server's control calls (same auth headers, same pool)."""
        return self._http

    @property
    def engine_name(self) -> str:
        """Provenance engine of blocks this client produced, e.g. ``vlm:zai-org/GLM-OCR``."""
        return f"vlm:{self.settings.model}"

    async def __aenter__(self) -> VlmClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        self._encoder.shutdown(wait=False, cancel_futures=True)

    # --- requests -----------------------------------------------------------------------------------

    def build_payload(self, image_uri: str, task: Task, *, loop_retry: bool = False) -> dict[str, Any]:
        s, p = self.settings, self.profile
        image_part = {"type": "image_url", "image_url": {"url": image_uri}}
        prompt = p.prompt(task)
        content: list[dict[str, Any]] = [image_part]
        if prompt:
            text_part = {"type": "text", "text": prompt}
            content = [image_part, text_part] if p.image_first else [text_part, image_part]
        payload: dict[str, Any] = {
            "model": s.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": s.max_tokens or p.max_tokens,
            "temperature": p.temperature if s.temperature is None else s.temperature,
            "stream": False,
        }
        if p.top_p is not None:
            payload["top_p"] = p.top_p
        if s.send_sampling_extras:
            payload.update(p.extras)
        if loop_retry:
            payload["frequency_penalty"] = s.repetition_retry_frequency_penalty
            if s.send_sampling_extras:
                base = float(p.extras.get("repetition_penalty", 1.0))
                payload["repetition_penalty"] = max(base, s.repetition_retry_penalty)
        return payload

    async def recognize(self, image: Image.Image, task: Task = Task.PAGE) -> VlmAnswer:
        """Read one image; a loop is cut and retried once with stronger penalties, then refused."""
        async with self._admission:
            return await self._recognize(image, task)

    async def _recognize(self, image: Image.Image, task: Task) -> VlmAnswer:
        s = self.settings
        uri = await asyncio.get_running_loop().run_in_executor(
            self._encoder, encode_image, image, s.image_format, s.image_max_side, s.jpeg_quality
        )
        answer = await self.complete(self.build_payload(uri, task))
        loop = self._loop(answer.text)
        if loop is None:
            return answer
        retry = await self.complete(self.build_payload(uri, task, loop_retry=True))
        second = self._loop(retry.text)
        if second is not None:
            raise VlmRepetitionError(
                f"answer loops on {loop.unit[:40]!r} (x{loop.repeats:.0f}) even with a stronger penalty",
                partial=cut_loop(retry.text, second),
            )
        tokens = [a.completion_tokens for a in (answer, retry) if a.completion_tokens is not None]
        return VlmAnswer(
            retry.text,
            retry.model,
            answer.attempts + retry.attempts,
            retry.finish_reason,
            True,
            sum(tokens) if tokens else None,
        )

    def _loop(self, text: str) -> Repetition | None:
        s = self.settings
        return find_tail_loop(
            text,
            min_repeats=s.repetition_min_repeats,
            max_period=s.repetition_max_period,
            min_span=s.repetition_min_span,
        )

    async def complete(self, payload: dict[str, Any]) -> VlmAnswer:
        """POST one chat completion with retries; raises :class:`VlmError` when it cannot."""
        import httpx

        s = self.settings
        last_error = "no attempt made"
        for attempt in range(s.retries + 1):
            if not self.breaker.allow():
                raise VlmUnavailableError(
                    f"circuit open after repeated failures ({last_error}); cooldown {s.breaker_cooldown:g}s"
                )
            retry_after: float | None = None
            try:
                async with self._semaphore:
                    response = await self._post(payload)
            except TimeoutError:  # the attempt's one deadline, whatever the server was doing
                self.breaker.record_failure()
                last_error = f"no complete answer within {s.timeout:g}s"
            except httpx.TransportError as exc:  # connection refused/reset, timeouts, protocol errors
                self.breaker.record_failure()
                last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except VlmRequestError:  # an answer over the size cap: a broken server, not a busy one
                self.breaker.record_failure()
                raise
            except BaseException:  # cancelled: no verdict on the server, but a half-open probe must end
                self.breaker.abandon()
                raise
            else:
                if response.status_code == 200:
                    try:
                        answer = self._parse(response, attempt + 1)
                    except VlmRequestError:
                        self.breaker.record_failure()  # a server that answers garbage is not healthy
                        raise
                    self.breaker.record_success()
                    return answer
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRYABLE_STATUS:
                    # The server is up and says our request is wrong; retrying cannot help.
                    self.breaker.record_success()
                    raise VlmRequestError(last_error)
                if response.status_code == 429:
                    self.breaker.record_success()  # alive, only busy: not a reason to open the circuit
                else:
                    self.breaker.record_failure()
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt < s.retries:
                await self._sleep(self._delay(attempt, retry_after))
        raise VlmRequestError(f"gave up after {s.retries + 1} attempts: {last_error}")

    async def _post(self, payload: dict[str, Any]) -> httpx.Response:
        """One attempt under one deadline (connect, upload and the whole answer) and a size cap.

        httpx's own timeouts bound each read, so an answer that drips, or never ends, would otherwise
        hold the request until the peer hangs up.
        """
        import httpx

        s = self.settings
        async with (
            asyncio.timeout(s.timeout),
            self._http.stream("POST", "/chat/completions", json=payload) as response,
        ):
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > s.max_response_bytes:
                raise VlmRequestError(f"answer of {declared} bytes is over the {s.max_response_bytes} limit")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > s.max_response_bytes:
                    raise VlmRequestError(f"answer is over the {s.max_response_bytes} bytes limit")
        return httpx.Response(
            response.status_code, headers=response.headers, content=bytes(body), request=response.request
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with equal jitter; a server's Retry-After wins when it is longer."""
        s = self.settings
        ceiling = min(s.backoff_max, s.backoff_base * (2**attempt))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, s.retry_after_max))
        return delay

    def _parse(self, response: httpx.Response, attempts: int) -> VlmAnswer:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise VlmRequestError(f"malformed chat completion: {response.text[:200]!r}") from exc
        if isinstance(text, list):  # some servers answer with content parts
            text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
        usage = data.get("usage")
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return VlmAnswer(
            text=str(text),
            model=str(data.get("model") or self.settings.model),
            attempts=attempts,
            finish_reason=choice.get("finish_reason"),
            completion_tokens=tokens if isinstance(tokens, int) and tokens >= 0 else None,
        )
