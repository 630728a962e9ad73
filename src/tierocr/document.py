"""The one schema every tier writes into: Document → Page → Block.

Whatever produced a page (the PDF text layer, a classical OCR engine, a vision-language model), the
result has the same shape, so an escalated page can replace a classical one without the renderers,
the API or the evaluation knowing the difference. Provenance says who produced what.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class BlockKind(StrEnum):
    TEXT = "text"
    TITLE = "title"
    HEADING = "heading"
    LIST_ITEM = "list_item"
    TABLE = "table"
    FORMULA = "formula"
    FIGURE = "figure"
    CAPTION = "caption"
    HEADER = "header"
    FOOTER = "footer"
    PAGE_NUMBER = "page_number"
    FOOTNOTE = "footnote"
    CODE = "code"
    REFERENCE = "reference"


#: Kinds that belong to the page furniture rather than the content; renderers may drop them.
FURNITURE_KINDS = frozenset({BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER})


class Tier(StrEnum):
    TEXT_LAYER = "text_layer"
    OCR = "ocr"
    VLM = "vlm"
    NONE = "none"


class BBox(BaseModel):
    """An axis-aligned box in page pixels (at the page's DPI), origin top-left."""

    model_config = ConfigDict(frozen=True)

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def union(self, other: BBox) -> BBox:
        return BBox(
            x0=min(self.x0, other.x0),
            y0=min(self.y0, other.y0),
            x1=max(self.x1, other.x1),
            y1=max(self.y1, other.y1),
        )

    def normalised(self, width: float, height: float, scale: int = 1000) -> list[int]:
        """The box as integers in 0..scale of the page size (GLM-OCR's ``bbox_2d`` convention)."""
        return [
            round(self.x0 / width * scale),
            round(self.y0 / height * scale),
            round(self.x1 / width * scale),
            round(self.y1 / height * scale),
        ]


class Provenance(BaseModel):
    tier: Tier
    engine: str = Field(description="e.g. 'pdfium', 'rapidocr', 'tesseract', 'vlm:glm-ocr'.")


class Block(BaseModel):
    kind: BlockKind = BlockKind.TEXT
    text: str = ""
    html: str | None = Field(None, description="HTML of a table block.")
    latex: str | None = Field(None, description="LaTeX of a formula block.")
    bbox: BBox | None = None
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    provenance: Provenance
    level: int | None = Field(None, ge=1, le=6, description="Heading level for title/heading blocks.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="Stage-specific extras.")


class QualityVerdict(BaseModel):
    """What the quality gate decided for a page, and why."""

    accepted: bool
    score: float | None = None
    signals: dict[str, float] = Field(
        default_factory=dict, description="Every signal that fired, with its value."
    )
    reasons: list[str] = Field(default_factory=list)
    probability: float | None = Field(
        None, description="Calibrated probability that the classical read is bad (calibrated gate only)."
    )
    threshold: float | None = Field(None, description="Probability at or above which the page escalates.")
    scope: Literal["page", "regions"] | None = Field(
        None, description="What a rejection asks to re-read: the whole page, or only `regions`."
    )
    regions: dict[int, str] = Field(
        default_factory=dict, description="Block index → why that block should be re-read."
    )
    measurements: dict[str, float] = Field(
        default_factory=dict,
        description="Every raw measurement the gate took, fired or not (the calibration refits from these).",
    )


class PageError(BaseModel):
    stage: str
    message: str


#: Error stages after which a page has no content of its own (it could not be loaded, or not read at
#: all); errors of other stages (a region, a VLM escalation) leave the page's classical content in place.
FATAL_STAGES = frozenset({"input", "ocr"})


class Page(BaseModel):
    number: int = Field(ge=1, description="1-based page number within the source document.")
    width: float = Field(description="Width in pixels at `dpi`.")
    height: float = Field(description="Height in pixels at `dpi`.")
    dpi: float
    tier: Tier = Tier.NONE
    blocks: list[Block] = Field(default_factory=list)
    rotation: int = Field(0, description="Clockwise degrees the page image was turned to read it upright.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds spent per stage.")
    quality: QualityVerdict | None = None
    diagnostics: dict[str, float] = Field(
        default_factory=dict,
        description="Measurements the stages took of their own read (layout words kept, order ambiguity, "
        "agreement of two reads), for the quality gate and for people reviewing the page.",
    )
    tier_reason: str | None = Field(None, description="Why this tier produced the page.")
    errors: list[PageError] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks if b.text)


class Document(BaseModel):
    source: str = Field(description="File name or other label of the input.")
    mime_type: str
    page_count: int = Field(description="Pages in the source, whether or not all were parsed.")
    pages: list[Page] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, data: str | bytes) -> Document:
        return cls.model_validate_json(data)
