"""The one interface every layout detector implements, so the parser never knows which model ran."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from PIL import Image

from tierocr.document import BBox


@dataclass(frozen=True, slots=True)
class Region:
    """A detected layout region in the pixel coordinates of the page image given to the detector.

    ``order`` is the detector's own reading-order rank when it predicts one (PP-DocLayout-V3 does); the
    reading-order stage may use it as a hint but does not depend on it.
    """

    label: str
    score: float
    bbox: BBox
    order: int | None = None


class LayoutDetector(ABC):
    """Finds regions on a page image; thread-safe callers may share one instance across pages."""

    #: Written into each block's provenance and attributes.
    name: str = "layout"

    @abstractmethod
    def detect(self, image: Image.Image) -> list[Region]:
        """Regions on an upright RGB page image, any order, already score-filtered."""


def _iou(a: BBox, b: BBox) -> float:
    inter = BBox(x0=max(a.x0, b.x0), y0=max(a.y0, b.y0), x1=min(a.x1, b.x1), y1=min(a.y1, b.y1))
    if inter.width <= 0 or inter.height <= 0:
        return 0.0
    union = a.area + b.area - inter.area
    return inter.area / union if union > 0 else 0.0


def suppress_overlaps(regions: list[Region], max_iou: float) -> list[Region]:
    """Drop regions that overlap a higher-scoring one too much, whatever their labels.

    Detectors run per-class NMS, so the same paragraph can come back as both ``text`` and ``title``;
    recognising it twice would duplicate its text in the output.
    """
    kept: list[Region] = []
    for region in sorted(regions, key=lambda r: r.score, reverse=True):
        if all(_iou(region.bbox, other.bbox) <= max_iou for other in kept):
            kept.append(region)
    return kept


def clip_region(region: Region, width: float, height: float) -> Region | None:
    """The region clipped to the page, or None when nothing of it is left."""
    box = BBox(
        x0=min(max(region.bbox.x0, 0.0), width),
        y0=min(max(region.bbox.y0, 0.0), height),
        x1=min(max(region.bbox.x1, 0.0), width),
        y1=min(max(region.bbox.y1, 0.0), height),
    )
    if box.width < 1 or box.height < 1:
        return None
    return Region(label=region.label, score=region.score, bbox=box, order=region.order)
