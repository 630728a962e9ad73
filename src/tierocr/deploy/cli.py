"""`tierocr deploy plan|up|check` and `tierocr deploy pod ...`; heavy imports live inside the commands."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

deploy_app = typer.Typer(
    help="Plan, install and verify a deployment: local units, compose, cloud pods, serverless.",
    no_args_is_help=True,
    add_completion=False,
)


class TargetOpt(StrEnum):
    local = "local"
    compose = "compose"
    pod = "pod"
    serverless = "serverless"


class BackendOpt(StrEnum):
    auto = "auto"
    vllm = "vllm"
    vlm_serve = "vlm-serve"
    none = "none"


GpuOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--gpu", help="GPU preset (repeat for a box with several cards): P100, RTX3080, A40, A100, H100, CPU."
    ),
]
SharedOpt = Annotated[
    float | None,
    typer.Option(
        "--shared-llm-gb",
        help="GiB a resident LLM keeps on the card that shares one (default: the preset's).",
    ),
]
TargetArg = Annotated[TargetOpt, typer.Option("--target", help="Where the plan runs.")]
BackendArg = Annotated[
    BackendOpt, typer.Option("--vlm-backend", help="OCR-VL server; auto: the preset's choice.")
]
OnArg = Annotated[
    int | None,
    typer.Option("--ocr-vl-on", help="Card index (order of --gpu) that runs OCR-VL; default: best."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML settings file (else TIEROCR_CONFIG).")]


def _args_text(gpu: list[str], shared: float | None, backend: BackendOpt, on: int | None) -> str:
    parts = [f"--gpu {g}" for g in gpu]
    if shared is not None:
        parts.append(f"--shared-llm-gb {shared:g}")
    if backend != BackendOpt.auto:
        parts.append(f"--vlm-backend {backend.value}")
    if on is not None:
        parts.append(f"--ocr-vl-on {on}")
    return " ".join(parts)


def build_plan(
    config: Path | None,
    gpu: list[str] | None,
    shared: float | None,
    target: TargetOpt,
    backend: BackendOpt,
    on: int | None,
):  # type: ignore[no-untyped-def]
    """Settings, then the plan; a refusal or a bad preset is one message on stderr and exit code 2."""
    from tierocr.config import load_settings
    from tierocr.deploy.plan import make_plan
    from tierocr.errors import TierOcrError

    gpus = gpu or ["CPU"]
    try:
        settings = load_settings(config)
        plan = make_plan(
            settings,
            gpus,
            target=target.value,
            shared_llm_gib=shared,
            backend=backend.value,
            ocr_vl_on=on,
            args=_args_text(gpus, shared, backend, on),
        )
    except (TierOcrError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return settings, plan


@deploy_app.command("plan")
def plan_command(
    gpu: GpuOpt = None,
    shared_llm_gb: SharedOpt = None,
    target: TargetArg = TargetOpt.local,
    vlm_backend: BackendArg = BackendOpt.auto,
    ocr_vl_on: OnArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Print the VRAM arithmetic, processes, ports and exact commands; refuse a plan that does not fit."""
    from tierocr.deploy.render import plan_text

    _, plan = build_plan(config, gpu, shared_llm_gb, target, vlm_backend, ocr_vl_on)
    typer.echo(json.dumps(plan.to_dict(), indent=2) if as_json else plan_text(plan))


@deploy_app.command("up")
def up_command(
    gpu: GpuOpt = None,
    shared_llm_gb: SharedOpt = None,
    target: TargetArg = TargetOpt.local,
    vlm_backend: BackendArg = BackendOpt.auto,
    ocr_vl_on: OnArg = None,
    dry_run: Annotated[
        bool | None,
        typer.Option(
            "--dry-run/--apply", help="Default: dry run unless systemd (local) or Docker (compose) is there."
        ),
    ] = None,
    root: Annotated[
        Path,
        typer.Option("--root", help="local: install units and env files under this root (tests, images)."),
    ] = Path("/"),
    env_file: Annotated[Path, typer.Option("--env-file", help="compose: where the env file goes.")] = Path(
        "deploy/compose.env"
    ),
    config: ConfigOpt = None,
) -> None:
    """Carry out a local plan (systemd units and env files) or a compose plan (env file, docker compose)."""
    from tierocr.deploy.up import UpError, up

    if target not in (TargetOpt.local, TargetOpt.compose):
        typer.echo(
            f"error: `deploy up` runs local and compose plans; use `tierocr deploy pod` for {target.value}",
            err=True,
        )
        raise typer.Exit(2)
    settings, plan = build_plan(config, gpu, shared_llm_gb, target, vlm_backend, ocr_vl_on)
    try:
        for line in up(plan, settings, dry_run=dry_run, root=root, env_file=env_file):
            typer.echo(line)
    except UpError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@deploy_app.command("check")
def check_command(
    url: Annotated[str, typer.Argument(help="Base URL of the API, e.g. http://127.0.0.1:8007.")],
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TIEROCR_SERVER_API_KEY", help="Bearer key, when the server wants one.", show_default=False
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON to this file ('-': stdout).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Images sent at once (default: deploy.check_concurrency).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Verify a deployment: health, each task, concurrent images, a short PDF; figures as table and JSON."""
    from tierocr.config import load_settings
    from tierocr.deploy.check import report_table, run_check

    settings = load_settings(config).deploy
    if not url.startswith(("http://", "https://")):
        typer.echo(f"error: {url}: expected an http(s) URL", err=True)
        raise typer.Exit(2)
    report = run_check(
        url,
        api_key=api_key,
        timeout_s=settings.check_timeout_s,
        concurrency=concurrency or settings.check_concurrency,
    )
    typer.echo(report_table(report))
    if json_out is not None:
        text = json.dumps(report.to_dict(), indent=2)
        if str(json_out) == "-":
            typer.echo(text)
        else:
            json_out.write_text(text + "\n", encoding="utf-8")
    if not report.ok:
        raise typer.Exit(1)


from tierocr.deploy.pod_cli import pod_app  # noqa: E402

deploy_app.add_typer(pod_app, name="pod")
