"""Layout mode for one page: detect regions, order them, recognise each by its task, in parallel.

The pipeline calls :func:`try_create_layout_parser` once; when the layout model cannot be loaded it gets
None (and a warning in the log) and stays in full-page mode, so a missing or broken model never stops a
parse. :meth:`LayoutParser.parse_page` returns an ordinary schema :class:`Page`, whose blocks carry the
region's label, task and GLM-OCR style ``bbox_2d`` in ``attributes``.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from PIL import Image

from tierocr.config import LayoutSettings, Settings
from tierocr.document import FURNITURE_KINDS, BBox, Block, BlockKind, Page, PageError, Provenance, Tier
from tierocr.engines.base import OcrEngine
from tierocr.engines.device import Device, resolve_device
from tierocr.errors import EngineUnavailableError
from tierocr.inputs.base import TextLayer, TextLine
from tierocr.inputs.textlayer import is_usable
from tierocr.layout.agreement import order_disagreement
from tierocr.layout.blocks import lines_to_blocks
from tierocr.layout.columns import (
    footnote_regions,
    margin_regions,
    split_spanning_regions,
    tidy_text_regions,
)
from tierocr.layout.crops import crop, safe_name, save_crop
from tierocr.layout.detector import LayoutDetector, Region, clip_region
from tierocr.layout.figure_grids import figure_grid_regions
from tierocr.layout.order import reading_order
from tierocr.layout.reading_order import Line
from tierocr.layout.region_geometry import assign_owners, overlap_share
from tierocr.layout.regions import KIND_BY_LABEL, RegionContext, RegionRecognizer
from tierocr.layout.separators import Separators, find_separators
from tierocr.layout.tables.pdf import page_words
from tierocr.layout.tasks import Task, TaskMap
from tierocr.layout.visualize import save_layout_png
from tierocr.layout.words import keep_words

logger = logging.getLogger(__name__)

#: Label of regions made from text the detector missed; unmapped labels are read as text.
UNDETECTED_LABEL = "undetected_text"
#: Detector labels given to the furniture found among the page's lines.
_FURNITURE_LABELS = MappingProxyType(
    {
        BlockKind.HEADER: "header",
        BlockKind.FOOTER: "footer",
        BlockKind.PAGE_NUMBER: "page_number",
    }
)
#: Block kinds whose crop is worth keeping as an image file.
_CROPPED_KINDS = frozenset({BlockKind.FIGURE, BlockKind.TABLE, BlockKind.FORMULA})


def create_detector(
    settings: LayoutSettings, threads: int = 0, device: Device | None = None
) -> LayoutDetector:
    """The configured detector; raises :class:`EngineUnavailableError` when it cannot be loaded."""
    if settings.detector == "ppdoclayout":
        from tierocr.layout.ppdoclayout import PPDocLayoutDetector

        return PPDocLayoutDetector(settings, threads=threads)
    from tierocr.layout.rapid_detector import RapidLayoutDetector

    return RapidLayoutDetector(settings, threads=threads, device=device)


class LayoutParser:
    """Parses page images region by region; one instance serves many pages (and threads)."""

    def __init__(self, settings: Settings, engine: OcrEngine, detector: LayoutDetector | None = None) -> None:
        self.settings = settings
        device = resolve_device(settings.ocr.device, warn=False)
        self.detector = detector or create_detector(settings.layout, settings.ocr.threads, device)
        self.tasks = TaskMap(settings.layout)
        self._engine = engine
        self._recognizer = RegionRecognizer(settings, engine, self.detector.name)

    def parse_page(
        self,
        image: Image.Image,
        *,
        number: int,
        dpi: float,
        text_layer: TextLayer | None = None,
        pdf_page: Any = None,
        output_dir: Path | None = None,
        stem: str = "page",
    ) -> Page:
        """One upright page image → a Page with blocks in reading order.

        ``text_layer`` is the page's PDF text (page pixels at ``dpi``); it is used per region only when
        the page-level check accepts it. ``pdf_page`` (a pdfplumber page or
        :class:`~tierocr.layout.tables.PdfPageRef`) lets tables use the PDF's ruling lines. With
        ``output_dir``, ``layout.save_crops`` writes ``imgs/<stem>-p<n>-r<i>-<label>.png`` and
        ``layout.visualize`` writes ``<stem>-p<n>-layout.png`` there.
        """
        started = time.perf_counter()
        image = image.convert("RGB")
        page = Page(number=number, width=image.width, height=image.height, dpi=dpi, tier=Tier.NONE)
        regions = self.detector.detect(image)
        page.timings["layout"] = round(time.perf_counter() - started, 4)

        lines = []
        if text_layer is not None and self.settings.text_layer.enabled:
            usable, _ = is_usable(text_layer, self.settings.text_layer)
            lines = text_layer.lines if usable else []
        scanned = text_layer is not None and text_layer.image_coverage >= 0.5
        word_lines = False  # the page's lines are a PDF's words, one by one
        if lines and pdf_page is not None and not scanned:
            # The layer's lines can run across a column gap; the PDF's words split cleanly at region
            # edges, so each region gets exactly its own text.
            words = page_words(pdf_page, dpi)
            # pdfminer keeps right-to-left scripts in visual order; PDFium's lines read them right.
            if words and not any(_is_rtl(w.text) for w in words):
                lines = [TextLine(text=w.text, bbox=w.bbox, char_height=w.bbox.height) for w in words]
                word_lines = True
        ctx = RegionContext(image=image, dpi=dpi, text_lines=lines, pdf_page=pdf_page, check_ink=scanned)
        if self.settings.layout.region_ocr == "page" and not lines:
            # One pass over the page costs a fraction of one pass per region, and no word is cut at a
            # region's edge; each region then takes the lines it owns. With a usable text layer only
            # the regions it does not cover are OCR'd, crop by crop.
            t0 = time.perf_counter()
            found = self._engine.recognize(image)
            page.timings["ocr"] = round(time.perf_counter() - t0, 4)
            ocr_lines = [Line(text=ln.text, bbox=ln.bbox, confidence=ln.confidence) for ln in found]
            ctx = replace(ctx, ocr_lines=ocr_lines)
        page_lines: list[Any] = [*ctx.text_lines, *(ctx.ocr_lines or [])]
        boxes = [ln.bbox for ln in page_lines]
        regions = regions + self._furniture(
            page_lines, assign_owners(boxes, [r.bbox for r in regions]), regions, image
        )
        owners = assign_owners(boxes, [r.bbox for r in regions])
        regions = regions + undetected_regions(
            [b for b, owner in zip(boxes, owners, strict=True) if owner is None], image.width, image.height
        )
        owners = assign_owners(boxes, [r.bbox for r in regions])
        as_lines = [Line(text=ln.text, bbox=ln.bbox) for ln in page_lines]
        separators = find_separators(image)
        regions = split_spanning_regions(
            regions, as_lines, owners, self.tasks, image.width, separators, words=word_lines
        )
        owners = assign_owners(boxes, [r.bbox for r in regions])
        if not scanned:  # a scan's layer may miss ink its region holds: keep the detector's box there
            regions = tidy_text_regions(regions, as_lines, owners, self.tasks)
            owners = assign_owners(boxes, [r.bbox for r in regions])
        if word_lines:  # a PDF's words, one by one: their boxes show a grid of figures the detector missed
            regions = figure_grid_regions(regions, as_lines, owners, self.tasks)
            owners = assign_owners(boxes, [r.bbox for r in regions])
        regions = _titles_not_headers(regions, owners, page_lines)
        regions = footnote_regions(regions, owners, page_lines, self.tasks, image.height)
        regions = margin_regions(regions, self.tasks, image.width)
        ctx = replace(
            ctx,
            owner={
                id(ln): regions[k].bbox for ln, k in zip(page_lines, owners, strict=True) if k is not None
            },
            regions=[r.bbox for r in regions],
            word_lines=word_lines,
        )

        t0 = time.perf_counter()
        heights = sorted(ln.bbox.height for ln in page_lines)
        order = reading_order(
            regions,
            self.tasks,
            image.height,
            self.settings.layout.caption_max_gap,
            separators,
            line_height=heights[len(heights) // 2] if heights else None,
        )
        page.timings["order"] = round(time.perf_counter() - t0, 4)
        ordered = [regions[i] for i in order.order]
        caption_targets = {order.order.index(c): order.order.index(t) for c, t in order.caption_of.items()}

        t0 = time.perf_counter()
        workers = max(1, min(self.settings.layout.max_concurrency, len(ordered)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layout-region") as pool:
            futures = [pool.submit(self._recognize, ctx, region) for region in ordered]
            results = [future.result() for future in futures]
        page.timings["regions"] = round(time.perf_counter() - t0, 4)

        self._keep_words(
            page, ctx, [block for block, _ in results], order.order, owners, page_lines, separators
        )
        for index, (region, block, (_, error)) in enumerate(zip(ordered, page.blocks, results, strict=True)):
            block.attributes["bbox_2d"] = region.bbox.normalised(image.width, image.height)
            block.attributes["order"] = index
            if index in caption_targets:
                block.attributes["caption_of"] = caption_targets[index]
            if error is not None:
                page.errors.append(PageError(stage=f"layout:{region.label}", message=error))
            if output_dir is not None and self.settings.layout.save_crops and block.kind in _CROPPED_KINDS:
                name = safe_name(stem, number, index, region.label)
                block.attributes["image_path"] = save_crop(crop(image, region.bbox), output_dir, name)

        # The page's tier is the one that produced most of its text (a born-digital page with one OCR'd
        # figure label is still a text-layer page); a page with no text is the engine's finding.
        chars: dict[Tier, int] = {}
        for block in page.blocks:
            chars[block.provenance.tier] = chars.get(block.provenance.tier, 0) + len(block.text.strip())
        page.tier = max(chars, key=lambda tier: chars[tier]) if any(chars.values()) else Tier.OCR
        page.tier_reason = f"layout mode: {len(page.blocks)} regions by {self.detector.name}"
        if output_dir is not None and self.settings.layout.visualize:
            path = save_layout_png(
                image, page, output_dir / f"{safe_name(stem, number, 0, 'layout')[:-4]}.png"
            )
            logger.debug("layout visualisation written to %s", path)
        page.timings["total"] = round(time.perf_counter() - started, 4)
        return page

    def _keep_words(
        self,
        page: Page,
        ctx: RegionContext,
        blocks: list[Block],
        order: list[int],
        owners: list[int | None],
        page_lines: list[Any],
        separators: Separators,
    ) -> None:
        """Check that the regions (in reading ``order``) kept the words of the lines they own; a region
        that did not is read as plain lines. The checked blocks become the page's; the page's word
        balance, and how far its region order disagrees with the line order, go into its diagnostics."""
        floor = self.settings.ocr.min_confidence
        owned: dict[int, list[Line]] = {}
        for line, owner in zip(page_lines, owners, strict=True):
            if owner is not None and (getattr(line, "confidence", None) or 1.0) >= floor:
                owned.setdefault(owner, []).append(Line(text=line.text, bbox=line.bbox))
        source = Tier.TEXT_LAYER if ctx.text_lines else Tier.OCR
        diagnostics = keep_words(
            blocks,
            [owned.get(i, []) for i in order],
            source,
            page_width=float(ctx.image.width),
            page_height=float(ctx.image.height),
            tolerance=self.settings.layout.word_tolerance,
        )
        page.blocks = blocks
        page.diagnostics.update(diagnostics)
        reading = [
            line for i in order for line in sorted(owned.get(i, []), key=lambda ln: (ln.bbox.y0, ln.bbox.x0))
        ]
        page.diagnostics["order_ambiguity"] = order_disagreement(reading, float(ctx.image.width), separators)

    def _furniture(
        self, lines: list[Any], owners: list[int | None], regions: list[Region], image: Image.Image
    ) -> list[Region]:
        """Regions for running headers, footers and page numbers, found among the page's lines by the
        same rules full-page mode uses (:func:`~tierocr.layout.blocks.lines_to_blocks`).

        Detectors often miss furniture or fold it into a text block; lines that a detected title,
        caption, table or formula owns are never taken, so a title high on the page stays a title.
        """
        if not lines:
            return []
        plain = [KIND_BY_LABEL.get(r.label, BlockKind.TEXT) is BlockKind.TEXT for r in regions]
        as_lines = [Line(text=ln.text, bbox=ln.bbox) for ln in lines]
        blocks = lines_to_blocks(
            as_lines, image.width, image.height, Provenance(tier=Tier.NONE, engine="layout")
        )
        out: list[Region] = []
        for block in blocks:
            if block.kind not in FURNITURE_KINDS or block.bbox is None:
                continue
            inside = [k for k, ln in enumerate(lines) if overlap_share(ln.bbox, block.bbox) >= 0.5]
            if any(owners[k] is not None and not plain[owners[k]] for k in inside):
                continue
            region = clip_region(
                Region(_FURNITURE_LABELS[block.kind], 0.0, block.bbox), image.width, image.height
            )
            if region is not None:
                out.append(region)
        return out

    def _recognize(self, ctx: RegionContext, region: Region) -> tuple[Block, str | None]:
        """One region's block; a failure becomes an empty block plus an error, never a lost page."""
        task = self.tasks.task_for(region.label)
        try:
            return self._recognizer.recognize(ctx, region, task), None
        except Exception as exc:  # one bad region must not sink the page
            logger.exception("layout region %s failed", region.label)
            block = Block(
                kind=BlockKind.FIGURE if task is Task.SKIP else BlockKind.TEXT,
                bbox=region.bbox,
                provenance=Provenance(tier=Tier.NONE, engine=self.detector.name),
                attributes={"label": region.label, "task": str(task), "escalate": True},
            )
            return block, f"{type(exc).__name__}: {exc}"


def _is_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def _titles_not_headers(regions: list[Region], owners: list[int | None], lines: list[Any]) -> list[Region]:
    """A region labelled header whose text is clearly larger than the page's body text is a title.

    Detectors call a large title at the top of a page a running header, and headers are left out of the
    Markdown; running headers are set small, so size tells the two apart on any page.
    """
    heights = [ln.bbox.height for ln in lines if ln.bbox.height > 0]
    if len(heights) < 3:
        return regions
    body = statistics.median(heights)
    out = list(regions)
    for k, region in enumerate(regions):
        if region.label != "header":
            continue
        own = [ln.bbox.height for ln, owner in zip(lines, owners, strict=True) if owner == k]
        if own and statistics.median(own) >= 1.3 * body:
            out[k] = dataclasses.replace(region, label="title")
    return out


def undetected_regions(stray: list[BBox], width: float, height: float) -> list[Region]:
    """Text regions for lines no region owns, so layout mode never loses text that full-page mode would
    keep; lines stack into one block where they touch."""
    stray = sorted(stray, key=lambda b: (b.y0, b.x0))
    blocks: list[BBox] = []
    for box in stray:
        for k, block in enumerate(blocks):
            overlaps_x = min(block.x1, box.x1) > max(block.x0, box.x0)
            same_row = min(block.y1, box.y1) - max(block.y0, box.y0) > 0.5 * box.height
            # Lines below one another, or words (a PDF's words come one by one) along the same row.
            if (overlaps_x and box.y0 - block.y1 < box.height) or (
                same_row and box.x0 - block.x1 < 1.5 * box.height
            ):
                blocks[k] = block.union(box)
                break
        else:
            blocks.append(box)
    regions = [
        clip_region(Region(label=UNDETECTED_LABEL, score=0.0, bbox=block), width, height) for block in blocks
    ]
    return [region for region in regions if region is not None]


def try_create_layout_parser(settings: Settings, engine: OcrEngine) -> LayoutParser | None:
    """A LayoutParser, or None with a logged warning when the layout model cannot be loaded."""
    try:
        return LayoutParser(settings, engine)
    except (EngineUnavailableError, ImportError, OSError, RuntimeError, ValueError) as exc:
        logger.warning("layout mode unavailable, falling back to full-page OCR: %s", exc)
        return None
