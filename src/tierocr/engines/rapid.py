"""RapidOCR (PP-OCR models on ONNX Runtime), the default classical engine: its wheel ships the models."""

from __future__ import annotations

import logging
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from PIL import Image

from tierocr.config import OcrSettings
from tierocr.document import BBox
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.engines.device import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    Device,
    build_on,
    confirm,
    cuda_options,
    resolve_device,
    session_provider,
)
from tierocr.engines.scripts import rapid_reads

log = logging.getLogger(__name__)


class RapidOcrEngine(OcrEngine):
    name = "rapidocr"

    def __init__(self, settings: OcrSettings) -> None:
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
        self._settings = settings
        self._params: dict[str, object] = {}
        self._ocr, self.device = build_on(
            resolve_device(settings.device, warn=False), "rapidocr", self._build
        )
        if self.device.cuda:
            providers = self.providers()
            for model in ("ocr_det", "ocr_rec"):
                self.device = confirm(self.device, f"rapidocr {model[4:]}", providers[model])
            if not self.device.cuda:  # a card onnxruntime would not use: all on the CPU, as configured there
                self._ocr = self._build(self.device)
        self._detector: Any = None
        self._lock = threading.Lock()

    def _build(self, device: Device) -> Any:
        from rapidocr import RapidOCR

        settings = self._settings
        params: dict[str, object] = {
            # The per-line angle classifier flips correct upright lines on clean pages (12.5 % CER with it,
            # 0 % without, measured); whole-page rotation is fixed before OCR instead.
            "Global.use_cls": False,
            "Global.log_level": "error",  # its "detection result is empty" warning is normal on blank crops
            # Keep low-confidence lines: the quality gate, not the engine, decides what is garbage.
            "Global.text_score": settings.min_confidence,
            # Word (Latin) and character (CJK) boxes, to split a line the detector ran across a gutter.
            "Global.return_word_box": True,
            # Lines recognised per model call; a card reads a batch of 64 in about the time of one line.
            "Rec.rec_batch_num": settings.rec_batch_size or (64 if device.cuda else 6),
        }
        if settings.threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = settings.threads
        if device.cuda:
            params["EngineConfig.onnxruntime.use_cuda"] = True
            for key, value in cuda_options(device.index).items():
                params[f"EngineConfig.onnxruntime.cuda_ep_cfg.{key}"] = value
        self._params = params
        ocr = RapidOCR(params=params)
        if device.cuda:  # loaded now, not at the first page, so that a card that fails falls back here
            ocr._load_det_model()
            ocr._load_rec_model()
        return ocr

    def providers(self) -> dict[str, str]:
        """The provider each of the engine's models runs on (the configured one while not yet loaded)."""
        out: dict[str, str] = {}
        for model, attr in (("ocr_det", "text_det"), ("ocr_rec", "text_rec")):
            loaded = getattr(self._ocr, attr, None)
            session = getattr(getattr(loaded, "session", None), "session", None)
            if session is not None:
                out[model] = session_provider(session)
            else:
                out[model] = CUDA_PROVIDER if self.device.cuda else CPU_PROVIDER
        return out

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
    """Our lines from a RapidOCR result: text stripped, empty reads dropped, confidence clamped, and a
    line with a gap in it wider than the line is tall split there (see :func:`split_at_gaps`)."""
    boxes, txts, scores = (getattr(result, name, None) for name in ("boxes", "txts", "scores"))
    if boxes is None or txts is None or scores is None:
        return []
    words = getattr(result, "word_results", None)
    if not words or len(words) != len(txts):
        words = [()] * len(txts)
    lines: list[OcrLine] = []
    for box, text, score, line_words in zip(boxes, txts, scores, words, strict=True):
        if not text.strip():
            continue
        line = OcrLine(text=text.strip(), bbox=_bbox(box), confidence=float(min(max(score, 0.0), 1.0)))
        lines.extend(split_at_gaps(line, text, line_words))
    return lines


#: A gap between two words (or characters) of one detected line wider than this many line heights is a
#: column gutter or a table's cell boundary, not a space: word spaces are a third of a line high.
SPLIT_GAP = 1.2


def split_at_gaps(line: OcrLine, text: str, words: object) -> list[OcrLine]:
    """The line cut where its words leave a gap wider than :data:`SPLIT_GAP` line heights.

    The detector draws one box over two columns' lines when their gutter is narrow, and reading order
    cannot undo that: each piece must be a line of its own column. ``words`` are RapidOCR's
    ``(word, score, four points)`` entries for the line; the pieces' text is cut from ``text`` itself, so
    spacing (none between CJK characters) stays as the recogniser wrote it.
    """
    entries = [w for w in (words or ()) if isinstance(w, tuple | list) and len(w) == 3]
    height = line.bbox.height
    if len(entries) < 2 or height <= 0 or line.bbox.width < 2 * height:
        return [line]
    spans: list[tuple[int, int, BBox]] = []
    pos = 0
    for word, _, points in entries:
        start = text.find(str(word), pos)
        if start < 0:
            return [line]  # the words do not spell the line: keep it whole
        pos = start + len(str(word))
        spans.append((start, pos, _bbox(points)))
    cuts = [k for k in range(1, len(spans)) if spans[k][2].x0 - spans[k - 1][2].x1 > SPLIT_GAP * height]
    if not cuts:
        return [line]
    pieces: list[OcrLine] = []
    for first, last in zip([0, *cuts], [*cuts, len(spans)], strict=True):
        part = text[spans[first][0] : spans[last - 1][1]].strip()
        if not part:
            continue
        x0 = min(s[2].x0 for s in spans[first:last])
        x1 = max(s[2].x1 for s in spans[first:last])
        box = BBox(x0=max(x0, line.bbox.x0), y0=line.bbox.y0, x1=min(x1, line.bbox.x1), y1=line.bbox.y1)
        pieces.append(OcrLine(text=part, bbox=box, confidence=line.confidence))
    return pieces or [line]


def _bbox(box: object) -> BBox:
    """The axis-aligned box around one of RapidOCR's four-point line polygons."""
    pts = np.asarray(box, dtype=float)
    return BBox(
        x0=float(pts[:, 0].min()),
        y0=float(pts[:, 1].min()),
        x1=float(pts[:, 0].max()),
        y1=float(pts[:, 1].max()),
    )
