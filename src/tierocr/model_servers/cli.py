"""`tierocr launch vllm|vlm-serve|ollama ...` and `tierocr stop NAME|--all`; heavy imports stay inside."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

launch_app = typer.Typer(
    help="Start a model server in its own process group, wait until it is healthy, and record it (pid and "
    "log files under the data directory) for `tierocr stop`. Two servers may share a card when their memory "
    "fractions add up to at most gpu.max_memory_fraction (0.95) and fit in the free memory.",
    no_args_is_help=True,
    add_completion=False,
)

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
Model = Annotated[str, typer.Option("--model", help="Model folder, or a hub id in the local cache.")]
Port = Annotated[int, typer.Option("--port", help="Port the server listens on.")]
Host = Annotated[
    str, typer.Option("--host", help="Address it listens on; loopback unless exposed on purpose.")
]
Name = Annotated[str | None, typer.Option("--name", help="Name for `tierocr stop` (default: KIND-PORT).")]
Fraction = Annotated[
    float | None,
    typer.Option(
        "--gpu-memory-utilization",
        help="Share of the card this server may take (vLLM: passed on, default 0.9; vlm-serve and Ollama: "
        "declared for the check only, default 0 as they leave after each batch).",
    ),
]
Seqs = Annotated[
    int | None,
    typer.Option(
        "--max-num-seqs",
        help="Requests served at once (vLLM --max-num-seqs, vlm-serve max_batch_size, OLLAMA_NUM_PARALLEL).",
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option("--timeout", help="Seconds to wait for health (default: gpu.launch_timeout_s)."),
]
Program = Annotated[str | None, typer.Option("--exec", help="The program to run (default: found on PATH).")]
Config = Annotated[Path | None, typer.Option("--config", help="YAML settings file (else TIEROCR_CONFIG).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _launch(spec: object, name: str | None, timeout: float | None, config: Path | None) -> None:
    from tierocr.config import load_settings
    from tierocr.gpu.nvml import read_gpu
    from tierocr.model_servers import registry
    from tierocr.model_servers.fractions import check_fractions
    from tierocr.model_servers.lifecycle import progress_printer, start, stop, wait_healthy
    from tierocr.model_servers.registry import ServerError
    from tierocr.model_servers.specs import LaunchSpec

    assert isinstance(spec, LaunchSpec)
    settings = load_settings(config)
    gpu, data_dir = settings.gpu, settings.data_dir
    server_name = name or f"{spec.kind}-{spec.port}"
    try:
        registry.check_name(server_name)
        running = [r for r in registry.all_records(data_dir) if registry.leader_alive(r)]
        same = [r for r in running if r.name == server_name]
        if same:
            raise ServerError(
                f"{server_name} is already running (pid {same[0].pid}); `tierocr stop {server_name}`"
            )
        if not _port_free(spec.host, spec.port):
            raise ServerError(f"port {spec.port} on {spec.host} is in use; pick another --port")
        others = [(r.name, r.fraction) for r in running]
        reading = read_gpu(gpu.device_index) if spec.fraction > 0 else None
        lines = check_fractions(server_name, spec.fraction, others, gpu.max_memory_fraction, reading)
    except ServerError as exc:
        raise _fail(str(exc)) from exc
    for line in lines:
        typer.echo(line)
    record, proc = start(spec, server_name, data_dir)
    typer.echo(f"started {server_name}: pid {record.pid} in its own process group, log {record.log}")
    wait = gpu.launch_timeout_s if timeout is None else timeout
    try:
        wait_healthy(record, proc, wait, progress_printer(server_name, record.health_url, record.log))
    except (ServerError, KeyboardInterrupt) as exc:
        sys.stderr.write("\n")
        reason = str(exc) if isinstance(exc, ServerError) else "interrupted"
        typer.echo(f"error: {reason}\nstopping {server_name}", err=True)
        stop(
            record,
            gpu.stop_grace_s,
            gpu.device_index,
            gpu.release_margin_mb,
            lambda s: typer.echo(s, err=True),
        )
        registry.remove(data_dir, server_name)
        raise typer.Exit(1) from None
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    typer.echo(f"{server_name} is up at {record.url}; stop it with: tierocr stop {server_name}")
    typer.echo(f"escalate to it with: TIEROCR_VLM_URL={record.url} TIEROCR_VLM_BACKEND={spec.vlm_backend}")


@launch_app.command("vllm", context_settings=_EXTRA)
def launch_vllm(
    ctx: typer.Context,
    model: Model,
    port: Port = 8000,
    host: Host = "127.0.0.1",
    name: Name = None,
    fraction: Fraction = None,
    max_num_seqs: Seqs = None,
    sleep_mode: Annotated[
        bool,
        typer.Option(
            "--sleep-mode/--no-sleep-mode",
            help="Start with sleep mode (--enable-sleep-mode, VLLM_SERVER_DEV_MODE=1), which is how an "
            "escalation batch frees the card.",
        ),
    ] = True,
    timeout: Timeout = None,
    program: Program = None,
    config: Config = None,
) -> None:
    """Start `vllm serve MODEL`; arguments after `--` go to vLLM unchanged."""
    from tierocr.model_servers.specs import vllm_spec

    if sleep_mode and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"warning: VLLM_SERVER_DEV_MODE=1 also opens vLLM's development endpoints (/collective_rpc runs "
            f"engine methods) without --api-key on {host}; keep it on loopback or block them in a proxy",
            err=True,
        )
    spec = vllm_spec(model, host, port, fraction, max_num_seqs, sleep_mode, program, list(ctx.args))
    _launch(spec, name, timeout, config)


@launch_app.command("vlm-serve", context_settings=_EXTRA)
def launch_vlm_serve(
    ctx: typer.Context,
    model: Model,
    port: Port = 8001,
    host: Host = "127.0.0.1",
    name: Name = None,
    fraction: Fraction = None,
    max_num_seqs: Seqs = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda or auto.")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="auto, float32, float16, bfloat16.")] = None,
    timeout: Timeout = None,
    config: Config = None,
) -> None:
    """Start `tierocr vlm-serve` (works on the CPU too); arguments after `--` go to it unchanged."""
    from tierocr.model_servers.specs import vlm_serve_spec

    spec = vlm_serve_spec(model, host, port, fraction, max_num_seqs, device, dtype, list(ctx.args))
    _launch(spec, name, timeout, config)


@launch_app.command("ollama", context_settings=_EXTRA)
def launch_ollama(
    ctx: typer.Context,
    port: Port = 11434,
    model: Annotated[
        str | None, typer.Option("--model", help="The model you will use (recorded only).")
    ] = None,
    host: Host = "127.0.0.1",
    name: Name = None,
    fraction: Fraction = None,
    max_num_seqs: Seqs = None,
    timeout: Timeout = None,
    program: Program = None,
    config: Config = None,
) -> None:
    """Start `ollama serve` on HOST:PORT (OLLAMA_HOST); arguments after `--` go to it unchanged."""
    from tierocr.model_servers.specs import ollama_spec

    spec = ollama_spec(model, host, port, fraction, max_num_seqs, program, list(ctx.args))
    _launch(spec, name, timeout, config)


def stop_command(
    name: Annotated[
        str | None, typer.Argument(help="The server's name, as `tierocr launch` printed it.")
    ] = None,
    all_servers: Annotated[bool, typer.Option("--all", help="Stop every launched server.")] = False,
    grace: Annotated[
        float | None, typer.Option("--grace", help="Seconds between SIGTERM and SIGKILL (gpu.stop_grace_s).")
    ] = None,
    config: Config = None,
) -> None:
    """Stop a launched server: its whole process group, then any child that left it (vLLM's EngineCore),
    found through /proc; then check through NVML that the card got its memory back, naming the process
    that still holds it otherwise. Exit code 1 when something is left."""
    from tierocr.config import load_settings
    from tierocr.model_servers import registry
    from tierocr.model_servers.lifecycle import stop
    from tierocr.model_servers.registry import ServerError

    settings = load_settings(config)
    gpu, data_dir = settings.gpu, settings.data_dir
    try:
        known = registry.all_records(data_dir)
        if all_servers:
            chosen = known
        elif name is not None:
            record = registry.read(data_dir, registry.check_name(name))
            if record is None:
                names = ", ".join(r.name for r in known) or "none"
                raise ServerError(f"no launched server named {name!r} (known: {names})")
            chosen = [record]
        else:
            names = ", ".join(r.name for r in known) or "none"
            raise ServerError(f"give a server name or --all (launched: {names})")
    except ServerError as exc:
        raise _fail(str(exc)) from exc
    clean = True
    for record in chosen:
        typer.echo(f"stopping {record.name} (pid {record.pid}, process group {record.pgid})")
        report = stop(
            record,
            gpu.stop_grace_s if grace is None else grace,
            gpu.device_index,
            gpu.release_margin_mb,
            typer.echo,
        )
        if report.left:
            clean = False  # keep the pid file: the next stop must still find what is left
        else:
            registry.remove(data_dir, record.name)
            clean = clean and report.clean
    if not chosen:
        typer.echo("no launched servers")
    if not clean:
        raise typer.Exit(1)
