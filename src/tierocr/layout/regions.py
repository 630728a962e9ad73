"""Recognition of one layout region by its task: text, table, formula, figure or page furniture.

Text comes from the PDF text layer where that layer covers the region's ink (exact and free), else from
the classical engine on the crop. Regions the classical tier cannot do justice to (formulas, tables with
no grid found) are marked ``escalate`` with the VLM prompt of their task, so the escalation tier can
re-read just that crop with ``Text Recognition:`` / ``Table Recognition:`` / ``Formula Recognition:``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from PIL import Image

from tierocr.config import Settings
from tierocr.document import BBox, Block, BlockKind, Provenance, Tier
from tierocr.engines.base import OcrEngine
from tierocr.inputs.base import TextLine
from tierocr.layout.blocks import lines_to_blocks
from tierocr.layout.crops import crop
from tierocr.layout.detector import Region
from tierocr.layout.reading_order import Line
from tierocr.layout.region_geometry import (
    assign_owners,
    crosses,
    ink_coverage,
    join_region_lines,
    overlap_share,
    region_segments,
)
from tierocr.layout.tables import TableModel, TableStructure, Word, table_candidates
from tierocr.layout.tables.as_text import printed_lines, refused_region_text
from tierocr.layout.tables.pdf import pdf_words
from tierocr.layout.tables.plausibility import is_ruled, measure, rejection
from tierocr.layout.tasks import Task

#: GLM-OCR's task prompts, for the escalation tier.
VLM_PROMPTS = MappingProxyType(
    {
        Task.TEXT: "Text Recognition:",
        Task.TABLE: "Table Recognition:",
        Task.FORMULA: "Formula Recognition:",
    }
)
_TEXT_LAYER = Provenance(tier=Tier.TEXT_LAYER, engine="pdfium")
KIND_BY_LABEL = MappingProxyType(
    {
        "title": BlockKind.TITLE,
        "doc_title": BlockKind.TITLE,
        "paragraph_title": BlockKind.HEADING,
        "figure_caption": BlockKind.CAPTION,
        "table_caption": BlockKind.CAPTION,
        "figure_title": BlockKind.CAPTION,
        "reference": BlockKind.REFERENCE,
        "reference_content": BlockKind.REFERENCE,
        "footnote": BlockKind.FOOTNOTE,
        "vision_footnote": BlockKind.FOOTNOTE,
        "algorithm": BlockKind.CODE,
        "header": BlockKind.HEADER,
        "footer": BlockKind.FOOTER,
        "number": BlockKind.PAGE_NUMBER,
        "page_number": BlockKind.PAGE_NUMBER,
        "formula_number": BlockKind.PAGE_NUMBER,
    }
)


class _Boxed(Protocol):
    @property
    def bbox(self) -> BBox: ...


_L = TypeVar("_L", bound=_Boxed)


@dataclass(frozen=True, slots=True)
class RegionContext:
    """Everything a region's recognition needs from its page; shared read-only between threads."""

    image: Image.Image
    dpi: float
    text_lines: Sequence[TextLine]
    pdf_page: Any = None
    #: The page's OCR lines when the page was OCR'd once (``layout.region_ocr = "page"``).
    ocr_lines: Sequence[Line] | None = None
    #: Check each region's ink against the layer (scanned pages with an OCR layer); a born-digital
    #: page's uncovered ink is rules and drawings, not text the layer lacks.
    check_ink: bool = False
    #: id(line) → the box of the one region that owns it (see :func:`assign_owners`).
    owner: Mapping[int, BBox] = field(default_factory=dict)
    #: Every region's box: lines a crop's OCR finds are kept only where the region owns them.
    regions: Sequence[BBox] = ()
    #: ``text_lines`` are the PDF's words one by one (pdfminer's), not PDFium's lines.
    word_lines: bool = False

    def lines_of(self, region: BBox, lines: Sequence[_L]) -> list[_L]:
        """The lines owned by the region; without an ownership table, those lying mostly inside it."""
        if self.owner:
            return [line for line in lines if self.owner.get(id(line)) == region]
        return [line for line in lines if overlap_share(line.bbox, region) >= 0.5]


def _kind(label: str, task: Task, text: str) -> BlockKind:
    if task is Task.TABLE:
        return BlockKind.TABLE
    if task is Task.FORMULA:
        return BlockKind.FORMULA
    if task is Task.SKIP:
        return BlockKind.FIGURE
    kind = KIND_BY_LABEL.get(label, BlockKind.TEXT)
    if task is Task.ABANDON and kind not in {BlockKind.HEADER, BlockKind.FOOTER, BlockKind.PAGE_NUMBER}:
        kind = BlockKind.FOOTER
    if kind in {BlockKind.HEADER, BlockKind.FOOTER} and text.strip().isdigit():
        kind = BlockKind.PAGE_NUMBER
    return kind


class RegionRecognizer:
    """Turns one region into one block; safe to call from several threads at once."""

    def __init__(self, settings: Settings, engine: OcrEngine, detector_name: str) -> None:
        self._settings = settings
        self._engine = engine
        self._detector_name = detector_name
        self._table_model = TableModel(threads=settings.ocr.threads)

    def _layer_lines(self, ctx: RegionContext, box: BBox) -> list[TextLine] | None:
        """The text layer's lines for the region when they cover its ink well enough, else None."""
        if not ctx.text_lines:
            return None
        inside = ctx.lines_of(box, ctx.text_lines)
        if not inside:
            return None
        if not ctx.check_ink:
            return inside
        # All the layer's lines over the region count as covering its ink, not only those it owns: a
        # detection drawn around a nested one (a table inside a text box) holds ink the layer does read,
        # in the region that owns it.
        over = [ln.bbox for ln in ctx.text_lines if _overlaps(ln.bbox, box)]
        coverage = ink_coverage(ctx.image, box, over)
        return inside if coverage >= self._settings.layout.text_layer_min_coverage else None

    def _text_share(self, ctx: RegionContext, box: BBox) -> float:
        """Share of the region's area covered by the text lines it owns (layer or page OCR)."""
        lines = [*ctx.lines_of(box, ctx.text_lines), *ctx.lines_of(box, ctx.ocr_lines or [])]
        return sum(line.bbox.area for line in lines) / max(box.area, 1e-6)

    def _shadowed(self, ctx: RegionContext, box: BBox) -> bool:
        """True when the region owns no line but lines lying inside it belong to an overlapping region:
        a duplicate detection, whose text is already read there and must not be read again."""
        if not ctx.owner:
            return False
        lines = [*ctx.text_lines, *(ctx.ocr_lines or [])]
        crossing = [ln for ln in lines if crosses(ln.bbox, box)]
        return bool(crossing) and all(ctx.owner.get(id(ln)) not in (None, box) for ln in crossing)

    def needs_ocr(self, ctx: RegionContext, region: Region, task: Task) -> bool:
        """Whether the region's text must come from OCR (the text layer does not cover it)."""
        return task is not Task.SKIP and self._layer_lines(ctx, region.bbox) is None

    def _ocr(self, ctx: RegionContext, box: BBox) -> tuple[list[Line], float | None]:
        """OCR lines of the region in page pixels, with their mean confidence: the page's lines lying
        mostly inside it when the page was OCR'd once, else the engine on the (padded) crop."""
        floor = self._settings.ocr.min_confidence
        if ctx.ocr_lines is not None:
            found = ctx.lines_of(box, ctx.ocr_lines)
        else:
            pad = self._settings.layout.crop_padding_pt * ctx.dpi / 72.0
            padded = BBox(
                x0=max(box.x0 - pad, 0.0),
                y0=max(box.y0 - pad, 0.0),
                x1=min(box.x1 + pad, float(ctx.image.width)),
                y1=min(box.y1 + pad, float(ctx.image.height)),
            )
            found = [
                Line(
                    text=ln.text,
                    bbox=BBox(
                        x0=ln.bbox.x0 + padded.x0,
                        y0=ln.bbox.y0 + padded.y0,
                        x1=ln.bbox.x1 + padded.x0,
                        y1=ln.bbox.y1 + padded.y0,
                    ),
                    confidence=ln.confidence,
                )
                for ln in self._engine.recognize(crop(ctx.image, padded).convert("RGB"))
            ]
        if ctx.regions and ctx.ocr_lines is None:
            # A crop reaches into its neighbours (the padding, a detector box drawn over a running head):
            # what it reads there belongs to the region that owns it, which reads it itself.
            owners = assign_owners([ln.bbox for ln in found], ctx.regions)
            found = [ln for ln, k in zip(found, owners, strict=True) if k is None or ctx.regions[k] == box]
        lines = [ln for ln in found if ln.text.strip() and (ln.confidence is None or ln.confidence >= floor)]
        scores = [ln.confidence for ln in lines if ln.confidence is not None]
        return lines, (sum(scores) / len(scores) if scores else None)

    def _read_text(self, ctx: RegionContext, box: BBox) -> tuple[str, float | None, Provenance]:
        layer = self._layer_lines(ctx, box)
        if layer is not None:
            lines = [Line(text=t.text, bbox=t.bbox, height=t.char_height) for t in layer]
            return join_region_lines(lines), 1.0, _TEXT_LAYER
        lines, confidence = self._ocr(ctx, box)
        return join_region_lines(lines), confidence, Provenance(tier=Tier.OCR, engine=self._engine.name)

    def recognize(self, ctx: RegionContext, region: Region, task: Task) -> Block:
        box = region.bbox
        attributes: dict[str, Any] = {
            "label": region.label,
            "task": str(task),
            "score": round(region.score, 4),
        }
        if task is Task.SKIP and self._text_share(ctx, box) >= self._settings.layout.figure_text_share:
            # Mostly text: a small table or a text block the detector took for a picture.
            block = self._table(ctx, region, dict(attributes))
            if block.kind is BlockKind.TABLE and block.html is not None:
                block.attributes["reclassified"] = "table"
                return block
            if "table_rejected" in block.attributes:
                # Its grids were refused: the block already holds its lines in reading order.
                block.attributes["reclassified"] = "text"
                return block
            attributes = {**attributes, "reclassified": "text"}
            task = Task.TEXT
        if task is Task.SKIP:
            # A figure is not OCR'd, but text already read on the page (labels, a picture of a notice)
            # stays with it: full-page mode would have kept it, so layout mode must not lose it.
            lines = [
                *(
                    Line(text=t.text, bbox=t.bbox, height=t.char_height)
                    for t in ctx.lines_of(box, ctx.text_lines)
                ),
                *ctx.lines_of(box, ctx.ocr_lines or []),
            ]
            tier = Tier.NONE if not lines else Tier.TEXT_LAYER if ctx.text_lines else Tier.OCR
            engine = {Tier.NONE: self._detector_name, Tier.TEXT_LAYER: "pdfium"}.get(tier, self._engine.name)
            # A figure may hold columns of text (a form, a scanned page); read them as full-page mode would.
            segments = region_segments(lines)
            blocks = (
                lines_to_blocks(segments, ctx.image.width, ctx.image.height, _TEXT_LAYER) if lines else []
            )
            return Block(
                kind=BlockKind.FIGURE,
                text="\n\n".join(b.text for b in blocks if b.text),
                bbox=box,
                confidence=region.score,
                provenance=Provenance(tier=tier, engine=engine),
                attributes=attributes,
            )
        if task is Task.TABLE:
            return self._table(ctx, region, dict(attributes))
        if self._shadowed(ctx, box):
            attributes["shadowed"] = True
            return Block(
                kind=_kind(region.label, task, ""),
                bbox=box,
                provenance=Provenance(tier=Tier.NONE, engine=self._detector_name),
                attributes=attributes,
            )
        text, confidence, provenance = self._read_text(ctx, box)
        if task is Task.FORMULA:
            # No classical engine reads maths: keep the crop, the glyphs read from it (text layer or
            # OCR) as a placeholder inside $$ (the renderer adds them), and ask the VLM tier for LaTeX.
            attributes.update(escalate=True, vlm_prompt=VLM_PROMPTS[Task.FORMULA])
            return Block(
                kind=BlockKind.FORMULA,
                text=text,
                bbox=box,
                confidence=confidence,
                provenance=provenance,
                attributes=attributes,
            )
        if task is Task.TEXT:
            attributes["vlm_prompt"] = VLM_PROMPTS[Task.TEXT]
            if not text:
                attributes["escalate"] = True  # a text region nothing could read (handwriting, odd script)
        kind = _kind(region.label, task, text)
        level = 1 if kind is BlockKind.TITLE else 2 if kind is BlockKind.HEADING else None
        return Block(
            kind=kind,
            text=text,
            bbox=box,
            confidence=confidence,
            provenance=provenance,
            level=level,
            attributes=attributes,
        )

    def _table_words(self, ctx: RegionContext, box: BBox) -> tuple[list[Word], float | None, Provenance]:
        """The table's words in crop pixels with their mean confidence: a born-digital PDF's own words
        when available, else the text layer's lines, else OCR. A scanned page's OCR layer places its
        glyphs loosely, and pdfplumber's words there come apart letter by letter ("S i nc e")."""
        born_digital = ctx.pdf_page is not None and ctx.text_lines and not ctx.check_ink
        # Words the page already holds one by one are the region's own (the same list the word check
        # counts); cutting the PDF's words out of the box again would drop those crossing its edge and
        # take in those its neighbours own.
        if born_digital and not ctx.word_lines and self._layer_lines(ctx, box) is not None:
            words = pdf_words(ctx.pdf_page, box, ctx.dpi)
            if words:
                return [_shift_word(w, box) for w in words], 1.0, _TEXT_LAYER
        layer = self._layer_lines(ctx, box)
        if layer is not None:
            return [_shift_word(Word(text=t.text, bbox=t.bbox), box) for t in layer], 1.0, _TEXT_LAYER
        lines, confidence = self._ocr(ctx, box)
        return (
            [_shift_word(Word(text=ln.text, bbox=ln.bbox), box) for ln in lines],
            confidence,
            Provenance(tier=Tier.OCR, engine=self._engine.name),
        )

    def _table(self, ctx: RegionContext, region: Region, attributes: dict[str, Any]) -> Block:
        """The region as a table when the grid found for it is a plausible one, else as text lines.

        A detector's "table" is often a receipt, a form or a page of notes, and every structure backend
        returns some grid; read as cells, such text loses its order (see tables/plausibility.py). The
        text block records why the grid was refused in ``attributes["table_rejected"]``.
        """
        box = region.bbox
        words, confidence, provenance = self._table_words(ctx, box)
        image = crop(ctx.image, box)
        candidates = table_candidates(
            image,
            words,
            backend=self._settings.layout.table_backend,
            pdf_page=ctx.pdf_page,
            region=box,
            dpi=ctx.dpi,
            model=self._table_model,
        )
        attributes["vlm_prompt"] = VLM_PROMPTS[Task.TABLE]
        check = self._settings.layout.table_check
        refused: list[str] = []
        refused_grids: list[TableStructure] = []
        image_ruled: bool | None = None
        for structure in candidates:
            reason = None
            if check.enabled:
                # pdfplumber's cells come from the PDF's drawn lines: a ruled grid by construction.
                ruled = structure.backend == "pdfplumber"
                if not ruled:
                    image_ruled = is_ruled(image) if image_ruled is None else image_ruled
                    ruled = image_ruled
                reason = rejection(measure(structure, words), check, ruled=ruled)
            if reason is not None:
                refused.append(f"{structure.backend}: {reason}")
                refused_grids.append(structure)
                continue
            if structure.backend == "pdfplumber":
                provenance = Provenance(tier=Tier.TEXT_LAYER, engine="pdfplumber")
            attributes.update(table_structure=structure.backend, rows=structure.n_rows, cols=structure.n_cols)
            if refused:
                attributes["table_refused"] = "; ".join(refused)
            return Block(
                kind=BlockKind.TABLE,
                text=structure.text,
                html=structure.to_html(),
                bbox=box,
                confidence=region.score,
                provenance=provenance,
                attributes=attributes,
            )
        if not refused:
            # No backend found a grid at all: keep the words in printed order and let the VLM tier try.
            attributes.update(table_structure="none", escalate=True)
            return Block(
                kind=BlockKind.TABLE,
                text=printed_lines(words, box.width),
                bbox=box,
                provenance=provenance,
                attributes=attributes,
            )
        attributes.update(table_rejected="; ".join(refused), vlm_prompt=VLM_PROMPTS[Task.TEXT])
        return Block(
            kind=BlockKind.TEXT,
            text=refused_region_text(words, box.width, refused_grids),
            bbox=box,
            confidence=confidence,
            provenance=provenance,
            attributes=attributes,
        )


def _shift_word(word: Word, box: BBox) -> Word:
    b = word.bbox
    return Word(
        text=word.text, bbox=BBox(x0=b.x0 - box.x0, y0=b.y0 - box.y0, x1=b.x1 - box.x0, y1=b.y1 - box.y0)
    )


def _overlaps(a: BBox, b: BBox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1
