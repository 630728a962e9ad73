"""The GPU presets file: its schema, loading it through the settings, and turning settings into TIEROCR_*.

Everything downstream (plan, compose env, pod env, docs) takes these models, never the raw YAML, so a typo
in the file is one clear error at load time instead of a wrong flag on a rented GPU.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tierocr.config import DeploySettings, Settings
from tierocr.errors import TierOcrError

VlmBackend = Literal["vllm", "vlm-serve", "none"]
DType = Literal["float32", "float16", "bfloat16"]


class PresetError(TierOcrError):
    """The presets file is missing, unreadable or does not match the schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pins(_Strict):
    vllm_image: str = Field(pattern=r"^[\w./-]+@sha256:[0-9a-f]{64}$")
    vllm_version: str
    transformers: str
    tokenizers: str
    huggingface_hub: str
    torch_cuda_index: str
    runpod: str  # RunPod's serverless runtime, installed in the serverless image only


class ModelSpec(_Strict):
    hf_id: str
    profile: str
    weights_mib: dict[DType, int]
    runtime_mib: int = Field(ge=0)
    min_kv_cache_mib: int = Field(ge=0)
    mtp: bool = False
    vllm_min_compute_capability: float

    def serve_need_mib(self, dtype: DType) -> int:
        """What `tierocr vlm-serve` needs: weights in that dtype plus the runtime's working memory."""
        return self.weights_mib[dtype] + self.runtime_mib

    def vllm_need_mib(self) -> int:
        """vLLM serves in bfloat16 and wants a KV cache on top of the weights and the runtime."""
        return self.weights_mib["bfloat16"] + self.runtime_mib + self.min_kv_cache_mib


class VllmFlags(_Strict):
    gpu_memory_utilization: float = Field(gt=0, le=0.98)
    max_num_seqs: int = Field(ge=1)
    max_num_batched_tokens: int = Field(ge=256)
    max_model_len: int = Field(ge=256)
    mtp_tokens: int = Field(0, ge=0, le=8)
    enable_sleep_mode: bool = False


class VlmServeFlags(_Strict):
    dtype: DType
    max_batch_size: int = Field(ge=1)


class RunPodSpec(_Strict):
    gpu_types: list[str] = Field(min_length=1)
    fallback: list[str] = Field(default_factory=list)


class GpuPreset(_Strict):
    key: str = ""
    name: str
    memory_mib: int = Field(ge=0)
    compute_capability: float | None
    shared_llm_gib: float = Field(0.0, ge=0)
    vlm_backend: VlmBackend
    vlm_serve: VlmServeFlags
    vllm: VllmFlags | None
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    runpod: RunPodSpec | None = None

    @property
    def is_gpu(self) -> bool:
        return self.memory_mib > 0

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        check_settings_keys(value)
        return value


class PresetsFile(_Strict):
    pins: Pins
    models: dict[str, ModelSpec]
    gpus: dict[str, GpuPreset]

    @model_validator(mode="after")
    def _cross_check(self) -> PresetsFile:
        for key, gpu in self.gpus.items():
            if gpu.runpod is not None:
                unknown = [name for name in gpu.runpod.fallback if name not in self.gpus]
                if unknown:
                    raise ValueError(f"gpus.{key}.runpod.fallback names unknown presets: {unknown}")
            if gpu.vlm_backend == "vllm" and gpu.vllm is None:
                raise ValueError(f"gpus.{key}: vlm_backend is vllm but no vllm flags are given")
        return self

    def gpu(self, name: str) -> GpuPreset:
        """The preset called ``name`` (case and spaces ignored: ``rtx 3080`` finds ``RTX3080``)."""
        wanted = name.replace(" ", "").replace("-", "").upper()
        for key, gpu in self.gpus.items():
            if key.upper() == wanted:
                return gpu
        raise PresetError(f"unknown GPU preset {name!r}; known: {', '.join(self.gpus)}")

    def model(self, name: str) -> ModelSpec:
        if name not in self.models:
            raise PresetError(f"unknown model {name!r} (deploy.model); known: {', '.join(self.models)}")
        return self.models[name]


def check_settings_keys(nested: dict[str, dict[str, Any]]) -> None:
    """Refuse section or field names that tierocr's settings do not have, then validate the values.

    The settings model ignores unknown keys, which would turn a misspelt preset key into a silently
    missing setting on a deployed box.
    """
    sections = Settings.model_fields
    for section, fields in nested.items():
        if section not in sections or not isinstance(fields, dict):
            raise ValueError(f"settings.{section}: not a settings section ({', '.join(sections)})")
        model = sections[section].annotation
        known = getattr(model, "model_fields", {})
        for field in fields:
            if field not in known:
                raise ValueError(f"settings.{section}.{field}: no such setting")
    try:
        Settings.model_validate(nested)
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc


def settings_env(nested: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``{"server": {"workers": 4}}`` -> ``{"TIEROCR_SERVER_WORKERS": "4"}``: how the settings read env."""
    env: dict[str, str] = {}
    for section, fields in nested.items():
        for field, value in fields.items():
            if value is None:
                continue
            text = str(value).lower() if isinstance(value, bool) else str(value)
            env[f"TIEROCR_{section}_{field}".upper()] = text
    return env


def load_presets(deploy: DeploySettings) -> PresetsFile:
    """The presets named by ``deploy.presets_file``, or the packaged ones."""
    if deploy.presets_file is not None:
        path = Path(deploy.presets_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PresetError(f"{path}: cannot read the GPU presets file ({exc.strerror})") from exc
        return _parse(text, str(path))
    return _packaged()


@cache
def _packaged() -> PresetsFile:
    text = resources.files("tierocr.deploy").joinpath("gpu_presets.yaml").read_text(encoding="utf-8")
    return _parse(text, "tierocr/deploy/gpu_presets.yaml")


def _parse(text: str, where: str) -> PresetsFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PresetError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PresetError(f"{where}: expected a mapping with pins, models and gpus")
    for key, gpu in (raw.get("gpus") or {}).items():
        if isinstance(gpu, dict):
            gpu["key"] = key
    try:
        return PresetsFile.model_validate(raw)
    except ValidationError as exc:
        raise PresetError(f"{where}: {exc}") from exc
