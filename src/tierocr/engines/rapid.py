"""RapidOCR (PP-OCR models on ONNX Runtime), the default classical engine: its wheel ships the models."""

from __future__ import annotations

import logging
import threading
from importlib.metadata import PackageNotFoundError, version

import numpy as np
from PIL import Image

from tierocr.config import OcrSettings
from tierocr.document import BBox
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.engines.scripts import rapid_reads

log = logging.getLogger(__name__)


class RapidOcrEngine(OcrEngine):
    name = "rapidocr"

    def __init__(self, settings: OcrSettings) -> None:
        from rapidocr import RapidOCR

        # The one recognition model the wheel ships reads Latin, Chinese and Japanese; other scripts need
        # models that would be downloaded, which this offline service cannot do (engine "auto" routes
        # them to Tesseract).
        unsupported = [lang for lang in settings.languages if not rapid_reads(lang)]
        if unsupported:
            log.warning(
                "rapidocr's bundled model does not cover %s; reading them as Latin/Chinese "
                "(engine 'auto' reads them with Tesseract)",
                unsupported,
            )
        params: dict[str, object] = {
            # The per-line angle classifier flips correct upright lines on clean pages (12.5 % CER with it,
            # 0 % without, measured); whole-page rotation is fixed before OCR instead.
            "Global.use_cls": False,
            "Global.log_level": "error",  # its "detection result is empty" warning is normal on blank crops
            # Keep low-confidence lines: the quality gate, not the engine, decides what is garbage.
            "Global.text_score": settings.min_confidence,
        }
        if settings.threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = settings.threads
        self._params = params
        self._ocr = RapidOCR(params=params)
        self._detector: RapidOCR | None = None
        self._lock = threading.Lock()

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        return _lines(self._ocr(np.asarray(image.convert("RGB"))))

    def detect(self, image: Image.Image) -> list[BBox]:
        """Boxes of every text line the detector finds, read or not.

        A second, detection-only RapidOCR does this, built on first need: per-call options would change
        the shared one for every thread.
        """
        from rapidocr import RapidOCR

        with self._lock:
            if self._detector is None:
                self._detector = RapidOCR(
                    params={**self._params, "Global.use_rec": False, "Global.use_cls": False}
                )
        found = getattr(self._detector(np.asarray(image.convert("RGB"))), "boxes", None)
        return [] if found is None else [_bbox(box) for box in found]

    def read_with_crops(self, image: Image.Image) -> tuple[list[OcrLine], list[np.ndarray] | None]:
        """The lines, and the image of every line the detector found, read or not (None where this
        RapidOCR release does not expose its steps).

        Most of a page in a script the recogniser cannot read comes back empty and is dropped: the share
        of detected lines that were read tells such a page from a Latin or Chinese one for free, and the
        line images are the sample another engine identifies the script on.
        """
        ocr = self._ocr
        steps = [getattr(ocr, name, None) for name in ("load_img", "preprocess_img", "run_ocr_steps")]
        finish = getattr(ocr, "build_final_output", None)
        if any(step is None for step in steps) or finish is None:
            return self.recognize(image), None
        load, preprocess, run = steps
        original = load(np.asarray(image.convert("RGB")))  # type: ignore[misc]
        img, record = preprocess(original)  # type: ignore[misc]
        det, cls, rec, crops = run(img, record)  # type: ignore[misc]
        detected = list(crops)  # the final step filters the list it is given
        return _lines(finish(original, det, cls, rec, crops, record)), detected

    def version(self) -> str:
        try:
            return f"rapidocr {version('rapidocr')}"
        except PackageNotFoundError:
            return "rapidocr"


def _lines(result: object) -> list[OcrLine]:
    """Our lines from a RapidOCR result: text stripped, empty reads dropped, confidence clamped."""
    boxes, txts, scores = (getattr(result, name, None) for name in ("boxes", "txts", "scores"))
    if boxes is None or txts is None or scores is None:
        return []
    lines: list[OcrLine] = []
    for box, text, score in zip(boxes, txts, scores, strict=True):
        text = text.strip()
        if not text:
            continue
        lines.append(OcrLine(text=text, bbox=_bbox(box), confidence=float(min(max(score, 0.0), 1.0))))
    return lines


def _bbox(box: object) -> BBox:
    """The axis-aligned box around one of RapidOCR's four-point line polygons."""
    pts = np.asarray(box, dtype=float)
    return BBox(
        x0=float(pts[:, 0].min()),
        y0=float(pts[:, 1].min()),
        x1=float(pts[:, 0].max()),
        y1=float(pts[:, 1].max()),
    )
