"""Operations: readiness per tier, what this server runs and allows, Prometheus metrics."""

from __future__ import annotations

import asyncio
import importlib.util
import re
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from tierocr import __version__
from tierocr.engines import available_engines
from tierocr.jobs.datadir import disk_space
from tierocr.server.deps import require_api_key
from tierocr.server.state import AppState, get_state

router = APIRouter(tags=["system"])

_SECRET_KEY = re.compile(r"(key|password|token|secret)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


def redact(value: Any, key: str = "") -> Any:
    """Settings as JSON with every secret-looking field and URL credentials blanked out."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if value is not None and _SECRET_KEY.search(key):
        return "***"
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(r"\1***@", value)
    return value


async def _ocr_tier(state: AppState) -> dict[str, Any]:
    try:
        engine = await run_in_threadpool(state.engine)
        compute = await run_in_threadpool(state.compute)
    except Exception as exc:  # readiness reports any failure to load rather than failing itself
        return {"ready": False, "engine": state.settings.ocr.engine, "detail": f"{type(exc).__name__}: {exc}"}
    tier: dict[str, Any] = {"ready": True, "engine": engine.name, "version": engine.version()}
    if compute is not None:
        # The device the models actually run on: a CUDA request that fell back to the CPU shows here.
        tier.update(device=compute["device"], providers=compute["providers"], fallback=compute["fallback"])
    return tier


async def _vlm_tier(state: AppState) -> dict[str, Any]:
    vlm = state.settings.vlm
    if not vlm.url:
        return {
            "ready": True,
            "configured": False,
            "detail": "not configured; pages stay on the classical tiers",
        }
    headers = {}
    if vlm.api_key is not None:
        headers["Authorization"] = f"Bearer {vlm.api_key.get_secret_value()}"
    limit = state.settings.server.health_timeout_s
    try:
        # One deadline for the whole probe: a peer that drips its answer must not hold /health.
        async with (
            asyncio.timeout(limit),
            httpx.AsyncClient(timeout=limit, trust_env=False, headers=headers) as client,
        ):
            response = await client.get(vlm.url.rstrip("/") + "/models")
            ok = response.status_code < 500
            gpu = await _vlm_gpu(state, client) if ok else {}
    except TimeoutError:
        return {"ready": False, "configured": True, "model": vlm.model, "detail": f"no answer in {limit:g}s"}
    except httpx.HTTPError as exc:
        return {"ready": False, "configured": True, "model": vlm.model, "detail": f"unreachable: {exc!r}"}
    return {
        "ready": ok,
        "configured": True,
        "model": vlm.model,
        "status_code": response.status_code,
        **gpu,
    }


async def _vlm_gpu(state: AppState, client: httpx.AsyncClient) -> dict[str, Any]:
    """Which server it is, what a leased batch does to free the card ("resident: cannot release" for a
    plain OpenAI endpoint), and the last release's memory figures."""
    from tierocr.engines.vlm_backends import describe_backend
    from tierocr.gpu.release import read_record, record_path

    s = state.settings
    quick = s.server.health_timeout_s  # every probe bounded like the rest of /health
    described = await describe_backend(
        client, s.vlm.model_copy(update={"connect_timeout": quick, "release_timeout_s": quick})
    )
    record = await run_in_threadpool(read_record, record_path(s.gpu))
    return {**described, "last_release": record.to_dict() if record is not None else None}


def _layout_tier(state: AppState) -> dict[str, Any]:
    available = importlib.util.find_spec("tierocr.layout.parser") is not None
    return {
        "ready": True,
        "available": available,
        "enabled": state.settings.layout.enabled,
        "detector": state.settings.layout.detector,
        "detail": None if available else "layout detection is not part of this build",
    }


def _data_dir(state: AppState) -> dict[str, Any]:
    """Free space where jobs are stored; not ready when one more upload of the largest size cannot fit."""
    path = state.settings.data_dir
    try:
        space = disk_space(path)
    except OSError as exc:
        return {"ready": False, "path": str(path), "detail": exc.strerror or str(exc)}
    ready = space["free_bytes"] > state.settings.server.max_upload_bytes
    detail = None if ready else "less free space than one upload of server.max_upload_bytes"
    return {"ready": ready, "path": str(path), **space, "detail": detail}


@router.get(
    "/health",
    summary="Readiness of each tier and of the data directory; 503 when OCR cannot run or the disk is full",
)
async def health(state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    tiers = {
        "text_layer": {"ready": state.settings.text_layer.enabled, "engine": "pdfium"},
        "ocr": await _ocr_tier(state),
        "vlm": await _vlm_tier(state),
        "layout": _layout_tier(state),
    }
    data_dir = await run_in_threadpool(_data_dir, state)
    ready = tiers["ocr"]["ready"] and data_dir["ready"]
    status = (
        "ok"
        if ready and all(t["ready"] for t in tiers.values() if t is not tiers["text_layer"])
        else ("degraded" if ready else "unavailable")
    )
    return JSONResponse(
        {"status": status, "version": __version__, "tiers": tiers, "data_dir": data_dir},
        status_code=200 if ready else 503,
    )


@router.get(
    "/api/info",
    summary="Version, engines, models, limits and the configuration (secrets hidden)",
    dependencies=[Depends(require_api_key)],
)
async def info(state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    from tierocr.parallel.sizing import available_cores

    s = state.settings
    engine = state.engine_if_loaded()
    return {
        "version": __version__,
        "engines": {
            "available": available_engines(),
            "default": s.ocr.engine,
            "loaded": {engine.name: engine.version()} if engine is not None else {},
        },
        "models": {"vlm": s.vlm.model if s.vlm.url else None, "layout": s.layout.detector},
        "compute": await run_in_threadpool(state.compute),
        "pipeline": {
            "workers": s.pipeline.workers or available_cores(),
            "backend": s.pipeline.backend,
            "max_pages_in_flight": s.pipeline.max_pages_in_flight,
        },
        "limits": {
            "max_upload_bytes": s.server.max_upload_bytes,
            "max_pages": s.server.max_pages,
            "max_job_pages": s.server.max_job_pages,
            "max_batch_images": s.server.max_batch_images,
            "max_image_pixels": s.input.max_image_pixels,
            "request_timeout_s": s.server.request_timeout_s,
            "workers": s.server.workers,
            "job_workers": s.server.job_workers,
        },
        "auth": s.server.api_key is not None,
        "config": redact(s.model_dump(mode="json")),
    }


@router.get("/metrics", summary="Prometheus metrics", dependencies=[Depends(require_api_key)])
async def metrics(state: Annotated[AppState, Depends(get_state)]) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
