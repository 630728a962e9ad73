"""RapidOCR (PP-OCR models on ONNX Runtime), the default classical engine: its wheel ships the models."""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

#: The one recognition model the wheel ships reads Chinese and Latin script; other languages need models
#: that would be downloaded, which this offline service cannot do.
SUPPORTED_LANGUAGES = frozenset({"en", "ch", "ch_sim", "zh", "ch_tra", "de", "fr", "es", "it", "pt", "nl"})


class RapidOcrEngine(OcrEngine):
    name = "rapidocr"

    def __init__(self, settings: OcrSettings) -> None:
        unsupported = [lang for lang in settings.languages if lang not in SUPPORTED_LANGUAGES]
        if unsupported:
            log.warning(
                "rapidocr's bundled model does not cover %s; reading them as Latin/Chinese", unsupported
            )
        self._settings = settings
        device = resolve_device(settings.device, warn=False)
        self._ocr, self.device = build_on(device, "rapidocr", self._build)
        if self.device.cuda:
            providers = self.providers()
            for model in ("ocr_det", "ocr_rec"):
                self.device = confirm(self.device, f"rapidocr {model[4:]}", providers[model])
            if not self.device.cuda:  # a card onnxruntime would not use: all on the CPU, as configured there
                self._ocr = self._build(self.device)

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
            # Lines recognised per model call; a card reads a batch of 64 in about the time of one line.
            "Rec.rec_batch_num": settings.rec_batch_size or (64 if device.cuda else 6),
        }
        if settings.threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = settings.threads
        if device.cuda:
            params["EngineConfig.onnxruntime.use_cuda"] = True
            for key, value in cuda_options(device.index).items():
                params[f"EngineConfig.onnxruntime.cuda_ep_cfg.{key}"] = value
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
        result = self._ocr(np.asarray(image.convert("RGB")))
        if result.boxes is None or result.txts is None:
            return []
        lines: list[OcrLine] = []
        for box, text, score in zip(result.boxes, result.txts, result.scores, strict=True):
            text = text.strip()
            if not text:
                continue
            pts = np.asarray(box, dtype=float)
            lines.append(
                OcrLine(
                    text=text,
                    bbox=BBox(
                        x0=float(pts[:, 0].min()),
                        y0=float(pts[:, 1].min()),
                        x1=float(pts[:, 0].max()),
                        y1=float(pts[:, 1].max()),
                    ),
                    confidence=float(min(max(score, 0.0), 1.0)),
                )
            )
        return lines

    def version(self) -> str:
        try:
            return f"rapidocr {version('rapidocr')}"
        except PackageNotFoundError:
            return "rapidocr"
