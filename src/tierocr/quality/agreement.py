"""Agreement of two reads: a second, independent engine reads a sample of the page's regions.

Where two engines disagree on the same crop, at least one of them is wrong; where they agree, a fluent
misread (handwriting read with confidence, a table rebuilt from the wrong cells) is much less likely. The
second read costs one crop per sampled region, so only ``gate.agreement_samples`` regions are read,
spread over the page in reading order, and crops beyond ``gate.agreement_max_pixels`` are cut to their
top band (the comparison then aligns that band's read with the matching stretch of the region's text).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass

from PIL import Image
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from tierocr.config import GateSettings, OcrSettings
from tierocr.document import Block, BlockKind, Page, Tier
from tierocr.engines.base import OcrEngine
from tierocr.errors import EngineUnavailableError

log = logging.getLogger(__name__)

#: Block kinds whose text a second engine can read back line by line.
_TEXT_KINDS = frozenset(
    {
        BlockKind.TEXT,
        BlockKind.TITLE,
        BlockKind.HEADING,
        BlockKind.LIST_ITEM,
        BlockKind.CAPTION,
        BlockKind.FOOTNOTE,
        BlockKind.REFERENCE,
    }
)
_WORD = re.compile(r"\w+", re.UNICODE)
#: Glyph height (pixels) below which a crop is enlarged for the second engine.
_MIN_GLYPH = 16.0
_MAX_ZOOM = 3.0
#: Two reads of a region further apart than this: one of them is wrong.
_DISPUTED = 0.3


def comparable(text: str) -> str:
    """Letters and digits only, case-folded: two engines differ in spacing, punctuation and markup, and
    Chinese OCR puts spaces between characters; none of that is a misread."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if c.isalnum())


def text_distance(reference: str, other: str, *, partial: bool = False) -> float:
    """Normalised edit distance of two reads (0 = same); ``partial``: ``other`` read only a band of the
    region, so it is aligned with the best-matching stretch of ``reference``."""
    a, b = comparable(reference), comparable(other)
    if not a and not b:
        return 0.0
    if not a or not b:
        return 1.0
    if partial and len(b) < len(a):
        return 1.0 - fuzz.partial_ratio(b, a) / 100.0
    return Levenshtein.normalized_distance(a, b)


def word_mismatch(table_text: str, plain: str, *, partial: bool = False) -> float:
    """1 - F1 of the word multisets of a table's cells and a plain-line read of its crop.

    Order-free on purpose: a table's cells are in grid order, a plain read in line order; only words that
    one read has and the other lacks (a lost or duplicated cell, a cell glued from two) count. With
    ``partial`` the plain read covers only a band of the table: then only its words missing from the
    table count (1 - precision).
    """
    a = Counter(w.casefold() for w in _WORD.findall(table_text))
    b = Counter(w.casefold() for w in _WORD.findall(plain))
    if not a and not b:
        return 0.0
    common = sum((a & b).values())
    if common == 0:
        return 1.0
    precision, recall = common / sum(b.values()), common / sum(a.values())
    if partial:
        return 1.0 - precision
    return 1.0 - 2 * precision * recall / (precision + recall)


class SecondReader:
    """The other classical engine (Tesseract beside RapidOCR, RapidOCR beside Tesseract), built on first
    use; when it cannot be built (not installed, no data for the page's languages) the gate goes on
    without the agreement signal, which is then missing, not zero."""

    def __init__(self, ocr: OcrSettings, primary: str) -> None:
        self._ocr = ocr
        self.name = "rapidocr" if primary == "tesseract" else "tesseract"
        self._engine: OcrEngine | None = None
        self._failed = False
        self._lock = threading.Lock()

    @property
    def engine(self) -> OcrEngine | None:
        with self._lock:
            if self._engine is None and not self._failed:
                self._engine = self._build()
                self._failed = self._engine is None
            return self._engine

    def _build(self) -> OcrEngine | None:
        from tierocr.engines import create_engine

        try:
            return create_engine(self._ocr, self.name)
        except EngineUnavailableError as exc:
            # No data for one of the page's languages: a second read in the wrong script would disagree
            # with every correct first read, so there is no agreement signal rather than a false one.
            log.warning("quality gate: no second read (%s)", exc)
            return None

    def read(self, crop: Image.Image) -> str | None:
        """The second engine's text of a crop; None when there is no second engine."""
        engine = self.engine
        if engine is None:
            return None
        try:
            lines = engine.recognize(crop)
        except Exception as exc:  # the second read is evidence, never a reason to lose the page
            log.debug("quality gate: second read failed: %s", exc)
            return ""
        return "\n".join(line.text for line in lines)


@dataclass(slots=True)
class Agreement:
    """What the second read found: distances per sampled text region and per table."""

    text_distance: float | None = None
    max_text_distance: float | None = None
    samples: int = 0
    #: Share of the sampled text regions whose two reads differ by more than ``_DISPUTED``.
    disputed_share: float = 0.0
    table_mismatch: float | None = None
    #: Block index → distance, for the regions that were read twice.
    per_block: dict[int, float] | None = None


def _sample(candidates: list[int], k: int) -> list[int]:
    """``k`` of the candidates spread evenly over reading order (deterministic: the same page, the same
    sample). ``k`` of 0 samples nothing: it is how a setting turns the second read off."""
    if k <= 0:
        return []
    if len(candidates) <= k:
        return candidates
    step = len(candidates) / k
    return [candidates[int(i * step + step / 2)] for i in range(k)]


def _glyph_height(crop: Image.Image) -> float | None:
    """Median height of the crop's ink components: the size of its glyphs, whatever the white space."""
    import cv2
    import numpy as np

    grey = np.asarray(crop.convert("L"), dtype=np.uint8)
    if grey.size == 0:
        return None
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    heights = stats[1:, 3][(stats[1:, 4] >= 4) & (stats[1:, 3] < grey.shape[0] * 0.5)]
    return float(np.median(heights)) if len(heights) >= 3 else None


def _crop(image: Image.Image, page: Page, block: Block, max_pixels: int) -> tuple[Image.Image, bool]:
    """The block's crop in image pixels, enlarged when its glyphs are small (engines misread glyphs a
    few pixels high), cut to its top band when larger than ``max_pixels``; and whether it was cut."""
    assert block.bbox is not None
    sx, sy = image.width / page.width, image.height / page.height
    box = block.bbox
    left, top = max(0, int(box.x0 * sx) - 4), max(0, int(box.y0 * sy) - 4)
    right = min(image.width, int(box.x1 * sx) + 5)
    bottom = min(image.height, int(box.y1 * sy) + 5)
    crop = image.crop((left, top, right, bottom))
    glyph = _glyph_height(crop)
    zoom = min(_MAX_ZOOM, _MIN_GLYPH / glyph) if glyph is not None and glyph < _MIN_GLYPH else 1.0
    cut = False
    if crop.width * crop.height * zoom * zoom > max_pixels:
        band = max(32, int(max_pixels / (zoom * zoom) / max(1, crop.width)))
        crop = crop.crop((0, 0, crop.width, min(crop.height, band)))
        cut = True
    if zoom > 1.0:
        crop = crop.resize((int(crop.width * zoom), int(crop.height * zoom)), Image.Resampling.LANCZOS)
    return crop, cut


def measure_agreement(
    page: Page, image: Image.Image, reader: SecondReader, settings: GateSettings
) -> Agreement:
    """Read a sample of the page's text regions (and its tables) a second time and compare."""
    text_blocks = [
        i
        for i, b in enumerate(page.blocks)
        if b.kind in _TEXT_KINDS
        and b.bbox is not None
        and b.provenance.tier in (Tier.OCR, Tier.TEXT_LAYER)
        and len(comparable(b.text)) >= settings.agreement_min_chars
    ]
    tables = [
        i
        for i, b in enumerate(page.blocks)
        if b.kind is BlockKind.TABLE and b.bbox is not None and b.text.strip()
    ]
    out = Agreement(per_block={})
    distances: list[tuple[float, int]] = []
    # A text layer's read is cheap and rarely wrong letter by letter: fewer samples keep the gate's cost
    # in proportion to the tier it judges.
    layer = sum(len(b.text) for b in page.blocks if b.provenance.tier is Tier.TEXT_LAYER)
    ocr = sum(len(b.text) for b in page.blocks if b.provenance.tier is Tier.OCR)
    k = settings.agreement_text_layer_samples if layer > ocr else settings.agreement_samples
    for index in _sample(text_blocks, k):
        block = page.blocks[index]
        crop, cut = _crop(image, page, block, settings.agreement_max_pixels)
        second = reader.read(crop)
        if second is None:
            return Agreement()
        distance = text_distance(block.text, second, partial=cut)
        distances.append((distance, len(comparable(block.text))))
        out.per_block[index] = round(distance, 4)  # type: ignore[index]
    if distances:
        weight = sum(min(w, 400) for _, w in distances)
        out.text_distance = sum(d * min(w, 400) for d, w in distances) / weight
        out.max_text_distance = max(d for d, _ in distances)
        out.samples = len(distances)
        out.disputed_share = sum(1 for d, _ in distances if d > _DISPUTED) / len(distances)
    mismatches: list[float] = []
    for index in _sample(tables, settings.agreement_table_samples):
        block = page.blocks[index]
        crop, cut = _crop(image, page, block, settings.agreement_max_pixels)
        second = reader.read(crop)
        if second is None:
            return out
        mismatches.append(word_mismatch(block.text, second, partial=cut))
        out.per_block[index] = round(mismatches[-1], 4)  # type: ignore[index]
    if mismatches:
        out.table_mismatch = max(mismatches)
    return out
