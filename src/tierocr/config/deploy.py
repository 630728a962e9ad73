"""Settings of deployment: where the GPU presets live, ports, paths, cloud pods, the post-deploy check.

The GPU presets themselves are data (one YAML file, ``tierocr/deploy/gpu_presets.yaml`` unless
``presets_file`` names another) so that the plan, the compose file, the pod commands and the docs read the
same numbers; this section only says where that file is and what every deployment shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class DeploySettings(BaseModel):
    """`tierocr deploy`: plans, images, units, cloud pods and the post-deployment check."""

    presets_file: Path | None = Field(
        None, description="GPU presets YAML; unset: the one shipped in the package (tierocr/deploy)."
    )
    model: str = Field("glm-ocr", description="Which model of the presets file the OCR-VL tier serves.")
    vllm_port: int = Field(8000, ge=1, le=65535, description="Port of the vLLM OpenAI server.")
    worker_base_port: int = Field(
        8011, ge=1, le=65535, description="Batch worker N listens on this port + N - 1."
    )
    batch_workers: int = Field(
        2, ge=0, le=16, description="Extra `tierocr serve` processes for bulk /api/ocr traffic."
    )
    redis_port: int = Field(6379, ge=1, le=65535, description="Redis of the GPU lease in compose plans.")
    llm_upstream: str = Field(
        "http://127.0.0.1:11434",
        description="The resident LLM behind `tierocr gpu guard` when gpu.guard_upstream is unset "
        "(Ollama's default address).",
    )
    models_dir: Path = Field(
        Path("/srv/models"), description="Host folder of model weights, mounted read-only into containers."
    )
    install_dir: Path = Field(
        Path("/opt/tierocr"), description="Where systemd units expect tierocr's venv (`.venv`) and vLLM's."
    )
    state_dir: Path = Field(
        Path("/var/lib/tierocr"), description="Data folders of the API and the workers on a local install."
    )
    image_prefix: str = Field(
        "tierocr", description="Image names: <prefix>/api, <prefix>/vlm-serve, <prefix>/vllm-glm-ocr."
    )
    compose_file: Path = Field(
        Path("deploy/docker-compose.yml"), description="Compose file `tierocr deploy up` runs."
    )
    pod_cloud_type: Literal["SECURE", "COMMUNITY", "ALL"] = Field(
        "SECURE", description="RunPod cloud to rent pods from; the price shown is this cloud's."
    )
    pod_container_disk_gb: int = Field(40, ge=10, description="Pod container disk (image + model).")
    pod_volume_gb: int = Field(0, ge=0, description="Pod volume at /runpod-volume; 0: none.")
    pod_ready_timeout_s: float = Field(
        900.0, gt=0, description="Longest wait for a new or resumed pod to report RUNNING."
    )
    pod_poll_initial_s: float = Field(
        2.0, gt=0, description="First wait between pod status reads; doubles up to pod_poll_max_s."
    )
    pod_poll_max_s: float = Field(30.0, gt=0, description="Longest wait between two pod status reads.")
    cloud_api_url: str = Field(
        "https://api.runpod.io/graphql",
        description="RunPod's GraphQL endpoint for `deploy pod` (the key goes in a header, never here).",
    )
    cloud_api_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for one cloud API answer before it counts as a failed call."
    )
    api_retries: int = Field(
        4, ge=0, le=20, description="Extra attempts after a cloud API connection error, 5xx or sold-out GPU."
    )
    api_backoff_s: float = Field(2.0, ge=0, description="First backoff after a failed cloud API call.")
    api_backoff_max_s: float = Field(60.0, ge=0, description="Upper bound of one cloud API backoff.")
    check_timeout_s: float = Field(
        600.0, gt=0, description="`deploy check`: longest wait for one request (CPU OCR can be slow)."
    )
    check_concurrency: int = Field(5, ge=1, le=64, description="`deploy check`: images sent at once.")
