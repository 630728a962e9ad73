"""The HTTP face: an OpenAI-compatible app built from settings alone, so tests and the CLI build it alike.

`create_app` reads no environment; the caller passes `VlmServerSettings`, optionally a model loader (tests
and benchmarks swap in their own) and a lease factory (the GPU lease). Every error, including FastAPI's
own 404 and 405, leaves as OpenAI's error JSON so clients surface the message instead of a parse error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import PurePath
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.batcher import DynamicBatcher, Job
from tierocr.vlm_server.images import load_image
from tierocr.vlm_server.jobs import GenRequest, GenResult, ServedModel
from tierocr.vlm_server.limits import check_request_limits, client_gone, read_body
from tierocr.vlm_server.memory import LeaseFactory, ModelLoader, ModelManager, no_lease
from tierocr.vlm_server.protocol import (
    ApiError,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ImagePart,
    TextPart,
    Usage,
    completion_id,
    now,
)
from tierocr.vlm_server.streaming import stream_response, whole_answer_stream
from tierocr.vlm_server.structured import StructuredSpec, spec_for, validate_answer

log = logging.getLogger(__name__)


def default_loader(settings: VlmServerSettings) -> ServedModel:
    from tierocr.vlm_server.model import TransformersModel

    return TransformersModel.load(settings)


def served_name(settings: VlmServerSettings) -> str:
    if settings.served_model_name:
        return settings.served_model_name
    if settings.model is None:
        return "unset"
    return PurePath(settings.model.rstrip("/")).name or settings.model


class VlmServer:
    """The app's state: settings, the model manager and the batcher (whose task /health watches)."""

    def __init__(
        self,
        settings: VlmServerSettings,
        loader: ModelLoader,
        lease: LeaseFactory,
        *,
        unload_after_batch: bool = False,
        lease_name: str | None = None,
    ) -> None:
        self.settings = settings
        self.name = served_name(settings)
        self.lease_name = lease_name
        self.manager = ModelManager(settings, loader, lease, unload_after_batch=unload_after_batch)
        self.batcher = DynamicBatcher(settings, self.manager)
        self.batcher_task: asyncio.Task[None] | None = None

    def check_model(self, requested: str | None) -> None:
        """Accept our name, the configured model, or a hub id ending in our name (`zai-org/GLM-OCR`)."""
        accepted = {self.name.lower(), (self.settings.model or "").lower()}
        if requested is not None and not {requested.lower(), PurePath(requested).name.lower()} & accepted:
            raise ApiError(
                404,
                f"model {requested!r} is not served here; this server serves {self.name!r}",
                code="model_not_found",
                param="model",
            )

    async def parse(self, request: Request) -> ChatCompletionRequest:
        body = await read_body(request, self.settings.max_request_bytes)
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from exc
        try:
            return ChatCompletionRequest.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ApiError(400, f"{where}: {first['msg']}", param=where or None) from exc

    async def to_gen_request(self, req: ChatCompletionRequest, spec: StructuredSpec | None) -> GenRequest:
        """The request as the model's input; every limit that needs no decoding is checked first."""
        s = self.settings
        if not any(m.role == "user" for m in req.messages):
            raise ApiError(400, "messages need at least one user message", param="messages")
        max_tokens = check_request_limits(req, s)
        images = []
        messages: list[dict[str, Any]] = []
        for message in req.messages:
            parts: list[dict[str, Any]] = []
            raw = [TextPart(type="text", text=message.content)] if isinstance(message.content, str) else None
            for part in raw or message.content:
                if isinstance(part, ImagePart):
                    images.append(await load_image(part.image_url.url, s))
                    parts.append({"type": "image"})
                elif isinstance(part, TextPart):
                    parts.append({"type": "text", "text": part.text})
            messages.append({"role": message.role, "content": parts})
        temperature = s.default_temperature if req.temperature is None else req.temperature
        return GenRequest(
            messages=messages,
            images=images,
            max_new_tokens=max_tokens,
            temperature=temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            stops=req.stop_list(),
            frequency_penalty=req.frequency_penalty,
            presence_penalty=req.presence_penalty,
            repetition_penalty=req.repetition_penalty,
            task=req.task,
            structured=spec,
        )

    def health(self) -> tuple[dict[str, Any], int]:
        """Readiness and counters; 503 with status "stuck" when the worker cannot take new work.

        Stuck means the batch loop has died, or one `generate` has run for twice `generation_timeout_s`:
        rows stop at their first token past the deadline, so a generate that long is hung in one step.
        """
        m = self.manager
        busy = self.batcher.busy_seconds()
        task = self.batcher_task
        stuck = (task is not None and task.done()) or (
            busy is not None and busy > 2 * self.settings.generation_timeout_s
        )
        body = {
            "status": "stuck" if stuck else "ok",
            "generating_s": None if busy is None else round(busy, 3),
            "model": self.name,
            "model_loaded": m.loaded,
            "model_type": m.model_type(),
            "device": m.device(),
            "memory_used_mb": m.memory_used_mb(),
            "loads": m.loads,
            "unloads": m.unloads,
            "gpu_lease": self.lease_name,
            "unload_after_batch": m.unload_after_batch,
            "queued": self.batcher.queued,
            **self.batcher.stats.as_dict(),
        }
        return body, 503 if stuck else 200


async def _await_result(job: Job, request: Request) -> GenResult:
    """The job's result; a client that disconnects (or a cancelled task) stops its row at the next token."""
    gone = asyncio.ensure_future(client_gone(request))
    try:
        await asyncio.wait({job.future, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not job.future.done():
            job.request.cancelled.set()
            raise ApiError(499, "client went away", code="cancelled")
        return job.future.result()
    except asyncio.CancelledError:
        job.request.cancelled.set()
        raise
    finally:
        gone.cancel()


def create_app(
    settings: VlmServerSettings,
    *,
    loader: ModelLoader | None = None,
    lease: LeaseFactory | None = None,
    unload_after_batch: bool = False,
    lease_name: str | None = None,
) -> FastAPI:
    """The app. ``unload_after_batch`` holds one ``lease("batch")`` across load, generate and unload of
    every batch, for a card shared with an LLM; `gpu_lease.build_app` decides it from the settings.
    ``lease_name`` is reported by /health, so an escalation client knows not to hold that lease itself."""
    server = VlmServer(
        settings,
        loader or default_loader,
        lease or no_lease,
        unload_after_batch=unload_after_batch,
        lease_name=lease_name,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.batcher_task = asyncio.create_task(server.batcher.run())
        tasks = [server.batcher_task, asyncio.create_task(server.manager.watch_idle())]
        try:
            yield
        finally:
            # SIGTERM lands here through uvicorn's shutdown, after `shutdown_timeout_s` of grace.
            server.batcher.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.manager.unload()

    app = FastAPI(title="tierocr vlm-serve", lifespan=lifespan)
    app.state.server = server

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else None
        return JSONResponse(
            ApiError(exc.status_code, str(exc.detail), code=code).body(), status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        body = ApiError(500, f"internal error: {exc}", type_="server_error").body()
        return JSONResponse(body, status_code=500)

    @app.get("/health")
    async def health() -> JSONResponse:
        body, status = server.health()
        return JSONResponse(body, status_code=status)

    @app.post("/unload")
    async def unload() -> dict[str, Any]:
        """Free the model now (the escalation client's release after a leased batch); a model still in use
        by another client's request stays, and `model_loaded` says so."""
        unloaded = await server.manager.unload()
        return {"unloaded": unloaded, "model_loaded": server.manager.loaded}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {
            "id": server.name,
            "object": "model",
            "created": 0,
            "owned_by": "tierocr",
            "root": settings.model,
        }
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Any:
        req = await server.parse(request)
        server.check_model(req.model)
        spec = spec_for(req)
        gen = await server.to_gen_request(req, spec)
        cid, created = completion_id(), now()
        include_usage = req.stream_options is not None and req.stream_options.include_usage
        if req.stream and spec is None:
            job = server.batcher.submit(gen, stream=True)
            return stream_response(job, cid, server.name, created, include_usage)
        job = server.batcher.submit(gen)
        result = await _await_result(job, request)
        text = validate_answer(result.text, spec) if spec is not None else result.text
        usage = Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens,
        )
        if req.stream:  # structured answers are validated whole, then sent as one chunk
            return whole_answer_stream(
                text, result.finish_reason, usage, cid, server.name, created, include_usage
            )
        completion = ChatCompletion(
            id=cid,
            created=created,
            model=server.name,
            choices=[Choice(message=AssistantMessage(content=text), finish_reason=result.finish_reason)],
            usage=usage,
        )
        return completion.model_dump()

    return app
