"""`tierocr vlm-serve`: flags override settings; unset flags fall through to YAML, env and defaults."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from tierocr.config import VlmServerSettings


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class DType(StrEnum):
    auto = "auto"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


def vlm_serve(
    model: Annotated[
        str | None, typer.Option("--model", help="Model folder, or a hub id already in the local cache.")
    ] = None,
    device: Annotated[
        Device | None, typer.Option("--device", help="cpu, cuda, or auto (cuda if visible).")
    ] = None,
    dtype: Annotated[
        DType | None,
        typer.Option("--dtype", help="float32 for cards without usable half precision; auto picks per card."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML settings file.")] = None,
) -> None:
    """Serve an OCR vision-language model (GLM-OCR, PaddleOCR-VL, LightOnOCR) over OpenAI's chat API.

    Settings not given as flags come from TIEROCR_VLM_SERVER_* variables, the YAML file, then defaults.
    """
    from tierocr.cli_settings import option_error, settings_or_exit

    overrides = {
        "model": model,
        "device": device.value if device else None,
        "dtype": dtype.value if dtype else None,
        "host": host,
        "port": port,
    }
    everything = settings_or_exit(config, vlm_server=overrides)
    settings = everything.vlm_server
    if settings.model is None:
        option_error("no model: pass --model or set TIEROCR_VLM_SERVER_MODEL")
    try:
        import uvicorn  # noqa: F401 - checked here so a missing extra is a clear message

        from tierocr.vlm_server.gpu_lease import build_app
    except ImportError as exc:
        option_error(f"{exc.name} is missing: pip install 'tierocr[vlm]'")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    # On cuda (or with use_lease: always) the app takes the GPU lease of `settings.gpu`, so OCR-VL work
    # never runs beside an LLM on the same card; the budget check guards loading on cuda.
    app, lease = build_app(settings, everything.gpu)
    try:
        serve_app(app, settings)
    finally:
        if lease is not None:
            lease.close()


def serve_app(app: Any, settings: VlmServerSettings, **uvicorn_kwargs: Any) -> None:
    """Run ``app`` until SIGTERM/SIGINT, which stop it within ``shutdown_timeout_s`` and a moment.

    uvicorn turns the signal into a graceful shutdown: requests in flight get ``shutdown_timeout_s`` to
    finish, then are cancelled (their rows stop at the next token), and the lifespan exit unloads the
    model. A generate hung in one step runs in a daemon thread and does not hold the process.
    """
    import uvicorn

    options: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_level": "info"}
    uvicorn.run(app, timeout_graceful_shutdown=settings.shutdown_timeout_s, **{**options, **uvicorn_kwargs})
