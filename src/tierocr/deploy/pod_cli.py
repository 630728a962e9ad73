"""`tierocr deploy pod create|status|start|stop|terminate`: a plan's pod on RunPod, price shown first.

``create`` walks the preset's GPU types and then its fallback presets (A40 -> A100 -> H100), each with its
own flags from the presets file, retrying sold-out types and flaky calls with backoff before moving on.
``--plan`` prints what would be rented and what it costs, and rents nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from tierocr.config import DeploySettings, Settings
from tierocr.deploy.pods import (
    CloudError,
    InventoryError,
    Offer,
    PodSpec,
    Retrier,
    RunPodClient,
    api_key_from_env,
    create_once,
)

pod_app = typer.Typer(help="Rent and manage a GPU pod on RunPod for a plan.", no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML settings file (else TIEROCR_CONFIG).")]
PlanOpt = Annotated[bool, typer.Option("--plan", help="Show what would be done and its price; do nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before renting or terminating.")]
API_KEY_SETTING = "TIEROCR_SERVER_API_KEY"


def _price(offer: Offer | None) -> str:
    if offer is None or offer.price_per_hr is None:
        return "price unknown"
    return f"${offer.price_per_hr:.2f}/h ({offer.cloud.lower()} cloud, 1 GPU, on demand)"


def _spec(settings: Settings, gpu_key: str, public: bool) -> tuple[PodSpec, list[str], list[str]]:
    from tierocr.deploy.plan import make_plan

    plan = make_plan(settings, [gpu_key], target="pod")
    pod = plan.extra["pod"]
    env = dict(pod["env"])
    key = os.environ.get(API_KEY_SETTING)
    if key:
        env[API_KEY_SETTING] = key
    elif not public:
        raise CloudError(
            "the pod's API is reachable by anyone at <pod-id>-8007.proxy.runpod.net: export "
            f"{API_KEY_SETTING} (sent to the pod, never printed) or pass --public"
        )
    name = f"tierocr-{gpu_key.lower()}-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = PodSpec(
        name, pod["image"], pod["cloud_type"], pod["container_disk_gb"], pod["volume_gb"], pod["ports"], env
    )
    return spec, pod["gpu_types"], pod["fallback"]


def _show_spec(spec: PodSpec, echo: Callable[[str], None]) -> None:
    echo(f"  pod {spec.name}: image {spec.image}, disk {spec.container_disk_gb} GB, ports {spec.ports}")
    for k, v in spec.env.items():
        echo(f"    {k}={'*** (from the environment)' if k == API_KEY_SETTING else v}")


def create_pod(
    settings: Settings,
    gpu_key: str,
    *,
    plan_only: bool,
    public: bool,
    confirm: Callable[[str], bool],
    echo: Callable[[str], None],
    retrier: Retrier | None = None,
    client_factory: Callable[[str, DeploySettings], RunPodClient] = RunPodClient,
) -> str | None:
    """Rent a pod for ``gpu_key``'s plan, falling back through the preset chain; the pod id, or None."""
    from tierocr.deploy.presets import load_presets

    presets = load_presets(settings.deploy)
    first = presets.gpu(gpu_key)
    chain = [first.key, *(first.runpod.fallback if first.runpod else [])]
    retry = retrier or Retrier(settings.deploy, echo)
    try:
        key = api_key_from_env()
    except CloudError:
        if not plan_only:
            raise
        key = None
    client = client_factory(key, settings.deploy) if key else None
    echo(f"GPU types in order: {' -> '.join(chain)} (the next one when a type stays sold out)")
    if client is None:
        echo("(RUNPOD_API_KEY is not set: prices are not looked up)")
    for preset_key in chain:
        spec, gpu_types, _ = _spec(settings, preset_key, public or plan_only)
        for gpu_type in gpu_types:
            offer = (
                retry(f"price of {gpu_type}", partial(client.offer, gpu_type, spec.cloud_type))
                if client
                else None
            )
            echo(f"{preset_key} -> {gpu_type}: {_price(offer)}")
            _show_spec(spec, echo)
            if plan_only or client is None:
                echo("  --plan: nothing rented")
                return None
            if not confirm(f"Rent {gpu_type} at {_price(offer)}?"):
                raise CloudError("not confirmed; nothing rented")
            try:
                pod_id = retry(f"create on {gpu_type}", create_once(client, spec, gpu_type))
            except InventoryError as exc:
                echo(f"  {gpu_type} stays sold out ({exc}); trying the next GPU type")
                continue
            echo(f"created pod {pod_id} on {gpu_type}; waiting for RUNNING")
            state = retry.wait_running(client, pod_id)
            echo(f"pod {pod_id} RUNNING on {state.gpu or gpu_type}, {_cost(state.cost_per_hr)}")
            echo(f"API: {state.url(8007)}  (check: tierocr deploy check {state.url(8007)})")
            return pod_id
    raise CloudError(f"no GPU of {' -> '.join(chain)} is available now; nothing was rented")


def _cost(cost: float | None) -> str:
    return f"${cost:.2f}/h" if cost is not None else "cost unknown"


def _run(action: Callable[[], None]) -> None:
    from tierocr.errors import TierOcrError

    try:
        action()
    except TierOcrError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _settings(config: Path | None) -> Settings:
    from tierocr.config import load_settings

    return load_settings(config)


@pod_app.command("create")
def create_command(
    gpu: Annotated[str, typer.Option("--gpu", help="GPU preset with a cloud type: A40, A100, H100.")] = "A40",
    plan: PlanOpt = False,
    yes: YesOpt = False,
    public: Annotated[bool, typer.Option("--public", help="Allow a pod API without an API key.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Rent a pod running vLLM + tierocr for the preset, with its price shown before anything is created."""
    settings = _settings(config)

    def go() -> None:
        create_pod(
            settings,
            gpu,
            plan_only=plan,
            public=public,
            confirm=(lambda _q: True) if yes else (lambda q: typer.confirm(q)),
            echo=typer.echo,
        )

    _run(go)


def _client(settings: Settings) -> RunPodClient:
    return RunPodClient(api_key_from_env(), settings.deploy)


@pod_app.command("status")
def status_command(pod_id: Annotated[str, typer.Argument()], config: ConfigOpt = None) -> None:
    """Show a pod's state, GPU, cost per hour and API URL."""
    settings = _settings(config)

    def go() -> None:
        state = _client(settings).get(pod_id)
        typer.echo(
            f"pod {state.id} ({state.name}): {state.desired_status}, "
            f"{'running' if state.running else 'not running'}, GPU {state.gpu or '?'}, "
            f"{_cost(state.cost_per_hr)}, uptime {state.uptime_s or 0} s"
        )
        typer.echo(f"API: {state.url(8007)}")

    _run(go)


@pod_app.command("start")
def start_command(
    pod_id: Annotated[str, typer.Argument()], plan: PlanOpt = False, config: ConfigOpt = None
) -> None:
    """Start (resume) a stopped pod and wait until it runs."""
    settings = _settings(config)

    def go() -> None:
        client = _client(settings)
        state = client.get(pod_id)
        typer.echo(f"pod {pod_id}: {state.desired_status}; starting bills {_cost(state.cost_per_hr)}")
        if plan:
            typer.echo("--plan: nothing started")
            return
        retry = Retrier(settings.deploy, typer.echo)
        retry(f"start {pod_id}", lambda: client.resume(pod_id))
        state = retry.wait_running(client, pod_id)
        typer.echo(f"pod {pod_id} RUNNING, {_cost(state.cost_per_hr)}; API: {state.url(8007)}")

    _run(go)


@pod_app.command("stop")
def stop_command(
    pod_id: Annotated[str, typer.Argument()], plan: PlanOpt = False, config: ConfigOpt = None
) -> None:
    """Stop a pod: the GPU is released, the disk is kept (and billed at the storage rate)."""
    settings = _settings(config)

    def go() -> None:
        client = _client(settings)
        if plan:
            typer.echo(f"--plan: would stop pod {pod_id} ({client.get(pod_id).desired_status})")
            return
        Retrier(settings.deploy, typer.echo)(f"stop {pod_id}", lambda: client.stop(pod_id))
        typer.echo(f"pod {pod_id} stopped")

    _run(go)


@pod_app.command("terminate")
def terminate_command(
    pod_id: Annotated[str, typer.Argument()],
    plan: PlanOpt = False,
    yes: YesOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Terminate a pod: it and its disk are gone."""
    settings = _settings(config)

    def go() -> None:
        client = _client(settings)
        if plan:
            typer.echo(f"--plan: would terminate pod {pod_id} and delete its disk")
            return
        if not yes and not typer.confirm(f"Terminate pod {pod_id} and delete its disk?"):
            raise CloudError("not confirmed; the pod is left as it is")
        Retrier(settings.deploy, typer.echo)(f"terminate {pod_id}", lambda: client.terminate(pod_id))
        typer.echo(f"pod {pod_id} terminated")

    _run(go)
