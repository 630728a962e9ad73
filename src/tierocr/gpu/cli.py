"""`tierocr gpu status` and `tierocr gpu guard`; imports live inside the commands to keep `--help` fast."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tierocr.config import Settings
    from tierocr.gpu.release import ReleaseRecord

gpu_app = typer.Typer(
    help="The GPU lease that keeps OCR-VL work and an LLM off a shared card at the same time.",
    no_args_is_help=True,
    add_completion=False,
)

_CONFIG = typer.Option(None, "--config", help="YAML config file (else TIEROCR_CONFIG).")


@gpu_app.command("status")
def status(
    lease: str | None = typer.Option(None, "--lease", help="Lease name (default: gpu.lease)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    config: Path | None = _CONFIG,
) -> None:
    """Show who holds the lease, its fencing token and who is queued, in service order; the OCR-VL
    server's release plan ("resident: cannot release" for a plain OpenAI endpoint) and the last batch's
    release with its GPU memory figures."""
    from rich.console import Console
    from rich.table import Table

    from tierocr.cli_settings import settings_or_exit
    from tierocr.gpu.lease import LeaseError, create_lease
    from tierocr.gpu.release import CANNOT_RELEASE, read_record, record_path

    settings = settings_or_exit(config)
    try:
        handle = create_lease(lease, settings.gpu)
        state = handle.status()
        handle.close()
    except (LeaseError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except Exception as exc:  # e.g. redis.ConnectionError: say where, not a traceback
        typer.echo(f"error: cannot read lease {lease or settings.gpu.lease}: {exc}", err=True)
        raise typer.Exit(2) from exc
    vlm = _describe_vlm(settings)
    record = read_record(record_path(settings.gpu, state.name))
    if as_json:
        extra = {"vlm": vlm, "last_release": record.to_dict() if record is not None else None}
        typer.echo(json.dumps({**state.to_dict(), **extra}, indent=2))
        return
    console = Console()
    console.print(
        f"lease [bold]{state.name}[/] ({state.backend}: {state.where}), last token {state.last_token}"
    )
    now = time.time()
    if state.holder is None:
        console.print("holder: [green]free[/]")
    else:
        h = state.holder
        expiry = f", expires in {h.expires_in_s:.1f}s unless renewed" if h.expires_in_s is not None else ""
        console.print(
            f"holder: [bold]{h.owner}[/] priority {h.priority}, token {h.token}, "
            f"held {now - h.since:.1f}s{expiry}"
        )
    if not state.waiters:
        console.print("queue: empty")
    else:
        table = Table("#", "owner", "priority", "waiting")
        for i, w in enumerate(state.waiters, 1):
            table.add_row(str(i), w.owner, str(w.priority), f"{now - w.since:.1f}s")
        console.print(table)
    if vlm is not None:
        plan = vlm["release"]
        style = "red" if plan == CANNOT_RELEASE else "green"
        line = f"OCR-VL server: {vlm['backend']} at {vlm['url']}: [{style}]{plan}[/]"
        console.print(line, highlight=False, soft_wrap=True)
    if record is not None:
        console.print(_release_line(record, now), highlight=False, soft_wrap=True, markup=False)


def _describe_vlm(settings: Settings) -> dict[str, Any] | None:
    """The configured VLM endpoint's kind and release plan; None when no endpoint is configured."""
    import asyncio

    import httpx

    from tierocr.engines.vlm_backends import describe_backend

    vlm = settings.vlm
    if not vlm.url:
        return None
    quick = vlm.model_copy(update={"connect_timeout": 2.0, "release_timeout_s": 2.0})
    headers = {"Authorization": f"Bearer {vlm.api_key.get_secret_value()}"} if vlm.api_key else {}

    async def describe() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False, headers=headers) as client:
            return await describe_backend(client, quick)

    from tierocr.gpu.release import public_url

    return {"url": public_url(vlm.url), **asyncio.run(describe())}


def _release_line(record: ReleaseRecord, now: float) -> str:
    ago = now - record.finished
    head = f"last release ({ago:.0f}s ago, {record.backend}"
    head += f", {record.action})" if record.action and record.action != "none" else ")"
    detail = f" - {record.detail}" if record.detail and record.status != "released" else ""
    line = f"{head}: {record.status}{detail}\n  {record.memory_line()}"
    if record.holders:
        line += f"\n  still holding memory: {record.holders_text()}"
    return line


@gpu_app.command("guard")
def guard(
    lease: str | None = typer.Option(None, "--lease", help="Lease name (default: gpu.lease)."),
    upstream: str | None = typer.Option(
        None, "--upstream", help="The LLM server, e.g. http://127.0.0.1:11434 (default: gpu.guard_upstream)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port to listen on (default: gpu.guard_port)."),
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default: gpu.guard_host)."),
    config: Path | None = _CONFIG,
) -> None:
    """Proxy an OpenAI-compatible LLM server, holding the GPU lease around each request."""
    from tierocr.cli_settings import settings_or_exit
    from tierocr.gpu.guard import build_guard, serve_guard
    from tierocr.gpu.lease import create_lease

    settings = settings_or_exit(
        config, gpu={"lease": lease, "guard_upstream": upstream, "guard_port": port, "guard_host": host}
    )
    gpu = settings.gpu
    if not gpu.guard_upstream:
        typer.echo("error: give --upstream URL (or set gpu.guard_upstream)", err=True)
        raise typer.Exit(2)
    app = build_guard(gpu.guard_upstream, create_lease(gpu.lease, gpu), gpu)
    serve_guard(app, gpu.guard_host, gpu.guard_port)
