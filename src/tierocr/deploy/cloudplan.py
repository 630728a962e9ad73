"""Processes and commands of the cloud targets: a rented pod and a serverless worker, one image for both.

Both run vLLM and tierocr in one Python environment (deploy/docker/vllm-glm-ocr.Dockerfile): the pins
that make GLM-OCR work in vLLM must also hold for the handler, so they are installed and gated once.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from tierocr.config import Settings
from tierocr.deploy.plan import Plan, Process
from tierocr.deploy.presets import settings_env
from tierocr.deploy.processes import API_CONTAINER_PORT, POD_MODEL_DIR, base_settings, vllm_args

DOCKERFILE = "deploy/docker/vllm-glm-ocr.Dockerfile"


def pod_env(plan: Plan, settings: Settings, mode: str) -> dict[str, str]:
    """Environment of the all-in-one image (deploy/docker/start.sh): vLLM and tierocr in one Python."""
    d = settings.deploy
    name = PurePosixPath(plan.model.hf_id).name
    nested = base_settings(plan, f"http://127.0.0.1:{d.vllm_port}/v1")
    plan.tierocr_settings = nested
    env = {
        "START_MODE": mode,
        "VLLM_MODEL": f"{POD_MODEL_DIR}/{name}",
        "VLLM_ARGS": shlex.join(vllm_args(plan, f"{POD_MODEL_DIR}/{name}", "127.0.0.1", d.vllm_port)[1:]),
    }
    return {**env, **settings_env(nested)}


def pod_image(settings: Settings, target: str) -> str:
    from tierocr import __version__

    return f"{settings.deploy.image_prefix}/vllm-glm-ocr-{target}:{__version__}"


def pod_processes(plan: Plan, settings: Settings) -> None:
    env = pod_env(plan, settings, "pod")
    d = settings.deploy
    plan.extra["pod"] = {
        "image": pod_image(settings, "pod"),
        "gpu_types": plan.ocr_vl_preset.runpod.gpu_types if plan.ocr_vl_preset.runpod else [],
        "fallback": plan.ocr_vl_preset.runpod.fallback if plan.ocr_vl_preset.runpod else [],
        "cloud_type": d.pod_cloud_type,
        "container_disk_gb": d.pod_container_disk_gb,
        "volume_gb": d.pod_volume_gb,
        "ports": f"{API_CONTAINER_PORT}/http",
        "env": env,
    }
    plan.processes = [
        Process(
            "vllm",
            "vLLM (inside the pod)",
            ["vllm", "serve", env["VLLM_MODEL"], *shlex.split(env["VLLM_ARGS"])],
            {},
            d.vllm_port,
            0,
        ),
        Process(
            "api",
            "tierocr serve (exposed as <pod>-8007.proxy.runpod.net)",
            ["tierocr", "serve", "--host", "0.0.0.0", "--port", str(API_CONTAINER_PORT)],
            {k: v for k, v in env.items() if k.startswith("TIEROCR_")},
            API_CONTAINER_PORT,
        ),
    ]
    image = plan.extra["pod"]["image"]
    plan.commands = [
        f"docker build -f {DOCKERFILE} --target pod -t {image} . && docker push {image}",
        "export RUNPOD_API_KEY=...   # read from the environment only, never stored",
        f"tierocr deploy pod create --gpu {plan.ocr_vl_preset.key} --plan   # price and spec, nothing rented",
        f"tierocr deploy pod create --gpu {plan.ocr_vl_preset.key}",
        "tierocr deploy check https://<pod-id>-8007.proxy.runpod.net",
        "tierocr deploy pod stop <pod-id>   # or terminate <pod-id>",
    ]


def serverless_processes(plan: Plan, settings: Settings) -> None:
    env = pod_env(plan, settings, "serverless")
    image = pod_image(settings, "serverless")
    runpod = plan.ocr_vl_preset.runpod
    types = runpod.gpu_types if runpod else []
    plan.extra["serverless"] = {
        "image": image,
        "handler": "tierocr.serverless.handler",
        "gpu_types": types,
        "env": env,
    }
    plan.processes = [
        Process(
            "vllm",
            "vLLM (inside the worker)",
            ["vllm", "serve", env["VLLM_MODEL"], *shlex.split(env["VLLM_ARGS"])],
            {},
            settings.deploy.vllm_port,
            0,
        ),
        Process(
            "handler",
            "RunPod serverless handler tierocr.serverless.handler",
            ["python", "-m", "tierocr.deploy.worker"],
            {k: v for k, v in env.items() if k.startswith("TIEROCR_")},
        ),
    ]
    plan.commands = [
        f"docker build -f {DOCKERFILE} --target serverless -t {image} . && docker push {image}",
        f"create a RunPod serverless endpoint: image {image}, GPU types {', '.join(types)}, the "
        "environment below (docs/deploy.md#serverless)",
        'first request: {"input": {"warmup": true}}',
    ]
