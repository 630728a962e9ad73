"""Settings sections of the CPU tiers: inputs, text layer, classical OCR, rendering, evaluation."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


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

    engine: str = Field(
        "auto",
        description="Classical OCR engine name (see `tierocr engines`); auto: RapidOCR for Latin, Chinese "
        "and Japanese, Tesseract for the scripts RapidOCR cannot read.",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        description="Language codes, e.g. en, ch_sim, ar, fa, ko, ru. With engine auto, a language RapidOCR "
        "cannot read sends pages to Tesseract without script detection.",
    )
    fix_rotation: bool = Field(True, description="Detect and undo whole-page rotation before OCR.")
    rotation_min_confidence: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="A rotation is applied only if the turned page is then classified upright at least this "
        "surely.",
    )
    deskew: bool = Field(
        True, description="Measure a scanned page's small skew from its ink and straighten it before OCR."
    )
    max_skew_degrees: float = Field(5.0, ge=0.0, le=15.0, description="Largest skew deskew looks for.")
    tessdata_dir: Path | None = Field(
        None, description="Tesseract language data folder; found automatically when unset."
    )
    threads: int = Field(
        0,
        ge=0,
        description="CPU threads of each ONNX model; 0: the runtime decides with one page worker, the cores "
        "shared out between page workers otherwise.",
    )
    device: str = Field(
        "cpu",
        pattern=r"^(cpu|cuda(:\d+)?)$",
        description="Where the ONNX models (OCR detection and recognition, orientation, layout) run: cpu, "
        "cuda or cuda:N (onnxruntime's CUDA execution provider, FP32; install the `cuda` extra). Falls "
        "back to the CPU with a warning when CUDA is not usable.",
    )
    rec_batch_size: int = Field(
        0,
        ge=0,
        description="Text lines recognised per model call; 0: 6 on the CPU (RapidOCR's own), 64 on CUDA, "
        "where a batch costs little more than one line.",
    )
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
