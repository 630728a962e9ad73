"""The app factory: one function builds a configured FastAPI app, with its own state and job worker.

Collaborators (pipeline, engine, VLM tasks, URL fetcher) can be injected, which is how the tests run the
real HTTP stack over small fakes; a served app uses the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tierocr import __version__
from tierocr.config import Settings, load_settings
from tierocr.jobs.datadir import DataDirLock
from tierocr.server.errors import install_error_handlers
from tierocr.server.limits import ApiKeyGuard, RequestGuard
from tierocr.server.metrics import MetricsMiddleware
from tierocr.server.routes import documents, jobs, ocr, render, search, system
from tierocr.server.state import AppState, EngineFactory, Fetcher, VlmFactory
from tierocr.server.web import install_web
from tierocr.server.work import PipelineFactory

#: Endpoints that take uploads; anything but multipart/form-data is refused there with 415.
MULTIPART_PATHS = (
    "/api/ocr/recognize",
    "/api/ocr/extract",
    "/api/ocr/batch",
    "/api/ocr/document",
    "/api/ocr/document/stream",
    "/api/jobs",
    "/api/index",
)


def create_app(
    settings: Settings | None = None,
    *,
    pipeline_factory: PipelineFactory | None = None,
    engine_factory: EngineFactory | None = None,
    vlm_factory: VlmFactory | None = None,
    fetcher: Fetcher | None = None,
    data_lock: DataDirLock | None = None,
) -> FastAPI:
    """``data_lock``: the data directory, already taken by the caller (the CLI, to refuse early);
    without it the app takes the directory when it starts."""
    settings = settings or load_settings()
    state = AppState(
        settings,
        pipeline_factory=pipeline_factory,
        engine_factory=engine_factory,
        vlm_factory=vlm_factory,
        fetcher=fetcher,
        data_lock=data_lock,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="tierocr",
        version=__version__,
        description="Tiered document OCR: PDF text layer, classical OCR, a vision-language model if needed.",
        lifespan=lifespan,
    )
    app.state.tierocr = state
    for router in (ocr.router, documents.router, jobs.router, system.router, render.router, search.router):
        app.include_router(router)
    if settings.server.web_ui:
        install_web(app)
    install_error_handlers(app)
    # Added innermost first: the key check (inside CORS, so a 401 carries CORS headers and preflights pass),
    # CORS, then the body guard, then metrics outermost so it sees every answer. None reads the body.
    if settings.server.api_key is not None:
        app.add_middleware(ApiKeyGuard, api_key=settings.server.api_key.get_secret_value())
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        RequestGuard, max_bytes=settings.server.max_upload_bytes, multipart_paths=MULTIPART_PATHS
    )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics, known_paths=MULTIPART_PATHS)
    return app
