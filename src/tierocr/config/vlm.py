"""Settings sections of the vision-language tier: the endpoint and the quality gate in front of it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

#: When pages go to the VLM; also the type every face (API form, serverless input) validates against.
Escalate = Literal["auto", "never", "always"]


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
    escalate: Escalate = Field(
        "auto", description="auto: pages the quality gate rejects; never; always: every page."
    )
    max_concurrency: int = Field(16, ge=1, description="Requests in flight at once (pooled connections).")
    use_lease: bool = Field(
        False,
        description="Hold the GPU lease (section gpu) while escalation requests are in flight: for a VLM "
        "endpoint on a card shared with an LLM.",
    )
    backend: Literal["auto", "tierocr", "ollama", "vllm", "openai"] = Field(
        "auto",
        description="The server behind `url`, for giving the GPU back after each leased batch: tierocr "
        "(vlm-serve: unload), ollama (unload with keep_alive 0, checked in /api/ps), vllm (sleep mode: "
        "/sleep and /wake_up, checked in /is_sleeping), openai (cannot release: reported as resident); "
        "auto: detected from the endpoint.",
    )
    sleep_level: int = Field(
        1,
        ge=1,
        le=2,
        description="vLLM sleep level after a batch: 1 moves the weights to CPU RAM (fast wake), 2 drops "
        "them (reloaded from disk at the next wake, for hosts short of RAM).",
    )
    release_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest wait for the server to report the model gone (or awake) before the release "
        "(or wake) is reported as failed.",
    )
    timeout: float = Field(
        180.0,
        gt=0,
        description="One deadline per attempt, in seconds: connect, upload and the whole answer (CPU models "
        "are slow).",
    )
    max_response_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="An answer body larger than this is refused, not buffered."
    )
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
    """The quality gate: a calibrated model over cheap signals, with per-signal thresholds as floors.

    ``mode = "calibrated"``: a page escalates when the model's probability that its classical read is bad
    reaches the operating point's threshold, or when a hard-floor signal fires. ``mode = "thresholds"``:
    a page fails when any signal crosses its threshold (the gate before calibration).
    """

    mode: Literal["calibrated", "thresholds"] = Field(
        "calibrated", description="calibrated: the fitted model decides; thresholds: any signal fails a page."
    )
    model_path: Path | None = Field(
        None, description="Gate model JSON (from `tierocr eval gate-fit`); unset: the one in the package."
    )
    target_recall: float = Field(
        0.9, gt=0, le=1, description="Operating point: the share of bad pages to catch (out-of-sample curve)."
    )
    escalation_budget: float | None = Field(
        None, gt=0, le=1, description="Operating point instead: the share of pages that may escalate."
    )
    hard_floors: list[str] = Field(
        default_factory=lambda: [
            "near_empty",
            "ink_per_char",
            "mojibake",
            "repetition",
            "table_without_html",
            "formula_without_latex",
        ],
        description="Threshold signals that always escalate, whatever the model says.",
    )
    agreement_samples: int = Field(
        4, ge=0, description="Text regions read a second time by the other engine (0: no second read)."
    )
    agreement_text_layer_samples: int = Field(
        0,
        ge=0,
        description="Regions read a second time on a page taken mostly from its text layer. 0 by default: "
        "a usable layer's words are exact, a second OCR read there measures OCR noise, and it cost 43% of a "
        "born-digital page's time (docs/throughput.md).",
    )
    agreement_table_samples: int = Field(
        2, ge=0, description="Table regions read a second time as plain lines."
    )
    agreement_min_chars: int = Field(
        12, ge=1, description="Shorter regions are not sampled for a second read."
    )
    agreement_max_pixels: int = Field(
        300_000, ge=10_000, description="A larger crop is cut to its top band before the second read."
    )
    region_agreement_distance: float = Field(
        0.5, ge=0, le=1, description="A sampled region whose two reads differ this much is a failing region."
    )
    region_table_doubt: float = Field(
        0.5, ge=0, le=1, description="A table whose grid doubt reaches this is a failing region."
    )
    region_handwriting_axis_share: float = Field(
        0.16, ge=0, le=1, description="A text block whose ink runs this little along the axes is handwritten."
    )

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
    require_formula_latex: bool = Field(
        True, description="A formula block without LaTeX fails: only the VLM tier writes LaTeX."
    )
    repetition_min_repeats: int = Field(10, ge=2, description="A unit repeated this often in a row: a loop.")
    repetition_max_period: int = Field(128, ge=1, description="Longest repeating unit looked for (chars).")
    repetition_min_span: int = Field(80, ge=1, description="A loop covers at least this many characters.")
    max_mojibake_ratio: float = Field(
        0.05, ge=0, le=1, description="Share of replacement, control, private-use or mis-decoded characters."
    )
