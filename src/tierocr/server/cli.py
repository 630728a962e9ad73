"""`tierocr serve`: run the HTTP API with uvicorn. FastAPI is imported only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default: server.host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: server.port, 8007).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="TIEROCR_SERVER_API_KEY", help="Require this Bearer key.", show_default=False),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where jobs are kept (default: data_dir).")] = None,
) -> None:
    """Serve the OCR API (OpenAPI schema at /docs and /openapi.json)."""
    try:
        import uvicorn

        from tierocr.server.app import create_app
    except ImportError as exc:
        typer.echo(f"the server needs the `server` extra: pip install 'tierocr[server]' ({exc})", err=True)
        raise typer.Exit(2) from exc
    from tierocr.cli_settings import check_engines, settings_or_exit

    settings = settings_or_exit(
        config, server={"host": host, "port": port, "api_key": api_key}, data_dir=data_dir
    )
    check_engines(settings.ocr.engine)
    from tierocr.jobs.datadir import DataDirBusyError, DataDirLock

    try:
        # Taken before the app starts, so a second server on the same directory stops here, in one line.
        lock = DataDirLock.acquire(settings.data_dir)
    except (DataDirBusyError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    app = create_app(settings, data_lock=lock)
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.server.log_level,
        limit_concurrency=settings.server.max_connections,
        timeout_graceful_shutdown=int(settings.server.request_timeout_s),
    )
