"""Settings sections of the long-running faces: GPU lease, our VLM server, the HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator


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
    release_margin_mb: int = Field(
        512,
        ge=0,
        description="After a release the card may use this much more memory than before the load; beyond "
        "it a warning names the process still holding memory (NVML).",
    )
    max_memory_fraction: float = Field(
        0.95,
        gt=0,
        le=1,
        description="`tierocr launch` refuses servers whose memory fractions add up past this share of "
        "the card.",
    )
    launch_timeout_s: float = Field(
        900.0, gt=0, description="How long `tierocr launch` waits for a server's health endpoint."
    )
    stop_grace_s: float = Field(
        20.0, gt=0, description="`tierocr stop`: how long processes get after SIGTERM before SIGKILL."
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
    image_fetch_timeout_s: float = Field(
        10.0,
        gt=0,
        description="One deadline for downloading an http(s) image: DNS, connect, redirects, body.",
    )
    allow_remote_images: bool = Field(
        False,
        description="Fetch http(s) `image_url`s (public addresses only, as the OCR API's URL inputs); "
        "false accepts data URIs only.",
    )
    allow_private_image_urls: bool = Field(
        False,
        description="Let remote images come from loopback, private and link-local addresses "
        "(SSRF guard off).",
    )
    image_fetch_max_redirects: int = Field(
        3, ge=0, description="Redirects followed when fetching an image, each target checked again."
    )
    max_prompt_chars: int = Field(
        65536,
        ge=1,
        description="Refuse requests whose text (all messages) is longer, before any work is done.",
    )
    max_prompt_tokens: int = Field(
        16384,
        ge=1,
        description="Refuse requests whose prompt, image tokens included, is longer; counted before "
        "generation.",
    )
    generation_timeout_s: float = Field(
        300.0,
        gt=0,
        description="A request still generating after this long is stopped (504); /health calls a generate "
        "running twice this long stuck.",
    )
    shutdown_timeout_s: float = Field(
        5.0,
        ge=0,
        description="On SIGTERM, requests in flight get this long to finish before they are cancelled.",
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
        3,
        ge=1,
        description="Tries of one page of a job (a crash while it was being read counts); a page out of "
        "tries is kept empty with its error and the rest of the job completes.",
    )
    jobs_db: str | None = Field(
        None,
        description="The job store of /api/jobs: a SQLite file path or a postgresql:// URL (the schema of "
        "`tierocr batch`); default data_dir/jobs/store.sqlite3.",
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
    web_ui: bool = Field(
        True, description="Serve the review page at / (static files only; its API calls still need the key)."
    )
    page_image_max_px: int = Field(
        1600,
        ge=256,
        le=4096,
        description="Longest side of the page images a stream sends when asked (`page_images`), as JPEG.",
    )

    @field_validator("api_key")
    @classmethod
    def _key_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty key would accept `Authorization: Bearer ` with nothing after it: refuse, do not guess.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("the API key is empty: unset it to serve without authentication, or give a key")
        return value
