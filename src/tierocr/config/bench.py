"""Settings of `tierocr bench` and `tierocr compare`: named endpoints and how hard each target is pushed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


class BenchEndpoint(BaseModel):
    """An OpenAI-compatible endpoint a benchmark target can name instead of spelling out a URL.

    Kept apart from the `vlm` section on purpose: a comparison names two endpoints at once, and a key
    belongs in the configuration, not in a target string on a command line.
    """

    url: str = Field(description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1.")
    profile: Literal["glm-ocr", "paddleocr-vl", "lightonocr", "generic"] = Field(
        "glm-ocr", description="Prompt and sampling conventions of the served model family."
    )
    model: str | None = Field(
        None, description="Model name sent with each request; unset: /v1/models' first."
    )
    api_key: SecretStr | None = Field(None, description="Bearer token, when the server wants one.")
    max_tokens: int | None = Field(None, ge=1, description="Answer length cap; unset: the profile's.")


class BenchSettings(BaseModel):
    """`tierocr bench` / `tierocr compare`: what one measurement of a target consists of."""

    targets: dict[str, BenchEndpoint] = Field(
        default_factory=dict,
        description="Endpoints by name, usable as targets (`tierocr bench glm paddle`).",
    )
    warm_requests: int = Field(
        20, ge=1, description="Single-image requests after the cold one: the warm latency's median and p95."
    )
    concurrency: list[int] = Field(
        default_factory=lambda: [1, 5, 16], description="Requests in flight of each throughput measurement."
    )
    throughput_rounds: int = Field(
        2, ge=1, description="A throughput level sends this many requests per slot (rounds x concurrency)."
    )
    throughput_min_requests: int = Field(
        10, ge=1, description="A throughput level sends at least this many requests."
    )
    cold_release: bool = Field(
        True,
        description="Ask a VLM server to give its model up (vlm-serve unload, vLLM sleep, Ollama unload) "
        "before the cold request, so that it pays the load as after a restart.",
    )
    compare_concurrency: int = Field(5, ge=1, description="`compare`: requests in flight of its images/s.")
    request_images: int = Field(
        8,
        ge=1,
        description="Without --images: corpus images (else PDF pages) sent as the latency and throughput "
        "requests.",
    )
    diff_documents: int = Field(
        5, ge=0, description="`compare`: documents where the two targets disagree most get an HTML diff."
    )
    diff_image_max_px: int = Field(
        1400, ge=200, description="Longest side of the page image embedded in a diff page."
    )
    report_dir: Path = Field(Path("bench-report"), description="Where `bench` and `compare` write reports.")

    @field_validator("concurrency")
    @classmethod
    def _positive_levels(cls, value: list[int]) -> list[int]:
        if not value or any(level < 1 for level in value):
            raise ValueError("give one or more concurrency levels, each at least 1")
        return sorted(set(value))

    @field_validator("targets")
    @classmethod
    def _names(cls, value: dict[str, BenchEndpoint]) -> dict[str, BenchEndpoint]:
        for name in value:
            if not name or not all(ch.isalnum() or ch in "._-" for ch in name):
                raise ValueError(f"target name {name!r}: use letters, digits, '.', '_' and '-' only")
        return value
