"""The interface every classical OCR engine implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from PIL import Image

from tierocr.document import BBox


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One recognised line of text, in the pixel coordinates of the image given to the engine."""

    text: str
    bbox: BBox
    confidence: float | None = None


class OcrEngine(ABC):
    """A classical OCR engine: an image in, lines of text with boxes out.

    Engines return lines, not blocks: grouping lines into paragraphs and reading order is ours
    (``tierocr.layout.blocks``), so every engine gets the same treatment.
    """

    #: Registry name, also written into each block's provenance.
    name: str = "engine"

    @abstractmethod
    def recognize(self, image: Image.Image) -> list[OcrLine]:
        """Recognise all text lines on an RGB image."""

    def version(self) -> str:
        """Version string of the underlying engine, for reports and the API's info endpoint."""
        return "unknown"
