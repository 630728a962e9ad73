"""The one source of tierocr's defaults.

Every face (CLI, HTTP API, servers, benchmarks) builds a :class:`Settings` and passes it down, so a
default lives here and nowhere else. Values come, in rising priority, from the field defaults below, an
optional YAML file (``TIEROCR_CONFIG`` or ``--config``), ``TIEROCR_*`` environment variables, and finally
explicit overrides (CLI flags). Sections are nested models; an environment variable names the section
and the field joined by one underscore, e.g. ``TIEROCR_OCR_ENGINE=tesseract`` or ``TIEROCR_VLM_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from tierocr.config.batch import BatchSettings
from tierocr.config.bench import BenchEndpoint, BenchSettings
from tierocr.config.core import EvalSettings, InputSettings, OcrSettings, RenderSettings, TextLayerSettings
from tierocr.config.deploy import DeploySettings
from tierocr.config.index import IndexSettings
from tierocr.config.layout import LayoutSettings
from tierocr.config.pipeline import PipelineSettings
from tierocr.config.services import GpuSettings, ServerSettings, VlmServerSettings
from tierocr.config.strict import check_environment, one_line, read_yaml
from tierocr.config.vlm import GateSettings, VlmSettings
from tierocr.errors import ConfigError

__all__ = [
    "BatchSettings",
    "BenchEndpoint",
    "BenchSettings",
    "ConfigError",
    "DeploySettings",
    "EvalSettings",
    "GateSettings",
    "GpuSettings",
    "IndexSettings",
    "InputSettings",
    "LayoutSettings",
    "OcrSettings",
    "PipelineSettings",
    "RenderSettings",
    "ServerSettings",
    "Settings",
    "TextLayerSettings",
    "VlmServerSettings",
    "VlmSettings",
    "load_settings",
]


class Settings(BaseSettings):
    """All of tierocr's settings; sections group them by stage."""

    model_config = SettingsConfigDict(
        env_prefix="TIEROCR_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    input: InputSettings = Field(default_factory=InputSettings)
    text_layer: TextLayerSettings = Field(default_factory=TextLayerSettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    vlm: VlmSettings = Field(default_factory=VlmSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    layout: LayoutSettings = Field(default_factory=LayoutSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    bench: BenchSettings = Field(default_factory=BenchSettings)
    vlm_server: VlmServerSettings = Field(default_factory=VlmServerSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    data_dir: Path = Field(Path.home() / ".local" / "share" / "tierocr", description="Jobs, caches, results.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = settings_cls.model_config.get("yaml_file") or os.environ.get("TIEROCR_CONFIG")
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, an optional YAML file, the environment and explicit overrides.

    Overrides are nested dicts (``{"ocr": {"engine": "tesseract"}}``) and win over everything else; keys
    whose value is None are ignored so that unset CLI flags fall through to the lower layers.

    Every mistake raises :class:`ConfigError` with one line naming it: an unknown ``TIEROCR_*`` variable or
    YAML key (with the closest valid name), a YAML syntax error, a bad value.
    """
    check_environment(Settings)
    cls: type[Settings] = Settings
    path = config_file or os.environ.get("TIEROCR_CONFIG")
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: config file not found")
        read_yaml(Path(path), Settings)
        cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    source = f"configuration ({path}, TIEROCR_* variables)" if path else "configuration (TIEROCR_* variables)"
    try:
        base = cls()
    except ValidationError as exc:
        raise one_line(exc, source) from exc
    cleaned = _drop_none(overrides)
    if not cleaned:
        return base
    try:
        return Settings.model_validate(_deep_merge(base.model_dump(), cleaned))
    except ValidationError as exc:
        raise one_line(exc, "options") from exc


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            nested = _drop_none(item)
            if nested:
                out[key] = nested
        elif item is not None:
            out[key] = item
    return out
