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

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class InputSettings(BaseModel):
    """How documents are opened and rasterised."""

    dpi: int = Field(200, ge=36, le=600, description="Rasterisation resolution for PDF pages.")
    max_image_pixels: int = Field(
        120_000_000,
        description="Refuse images (and rendered pages) larger than this many pixels: decompression bombs.",
    )
    max_file_bytes: int = Field(512 * 1024 * 1024, description="Refuse input files larger than this.")
    password: str | None = Field(None, description="Password for encrypted PDFs.")


class TextLayerSettings(BaseModel):
    """When a PDF page's own text is trusted instead of OCR."""

    enabled: bool = True
    min_chars: int = Field(
        8, description="Fewer extractable characters than this on an inked page means the layer is unusable."
    )
    min_ink_coverage: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of the page's inked text-like area that the layer's character boxes must cover.",
    )
    max_bad_char_ratio: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Share of replacement, control or private-use characters above which the layer is mojibake.",
    )


class OcrSettings(BaseModel):
    """The classical OCR tier."""

    engine: str = Field("rapidocr", description="Classical OCR engine name (see `tierocr engines`).")
    languages: list[str] = Field(default_factory=lambda: ["en"], description="Language codes, e.g. en, ch_sim.")
    fix_rotation: bool = Field(True, description="Detect and undo whole-page rotation before OCR.")
    tessdata_dir: Path | None = Field(
        None, description="Tesseract language data folder; found automatically when unset."
    )
    threads: int = Field(0, ge=0, description="CPU threads for the ONNX engines; 0 lets the runtime decide.")
    min_confidence: float = Field(0.3, ge=0.0, le=1.0, description="Drop OCR lines below this confidence.")


class RenderSettings(BaseModel):
    """Markdown, JSON and RAG chunk output."""

    drop_headers_footers: bool = Field(
        True, description="Leave running headers, footers and page numbers out of the Markdown (kept in JSON)."
    )
    chunk_max_chars: int = Field(1500, ge=100, description="Upper bound on a RAG chunk's size.")


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
    render: RenderSettings = Field(default_factory=RenderSettings)
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
    """
    cls: type[Settings] = Settings
    path = config_file or os.environ.get("TIEROCR_CONFIG")
    if path is not None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    base = cls()
    cleaned = _drop_none(overrides)
    if not cleaned:
        return base
    return Settings.model_validate(_deep_merge(base.model_dump(), cleaned))


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

