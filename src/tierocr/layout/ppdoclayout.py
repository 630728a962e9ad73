"""PP-DocLayout-V3 through transformers, for users who have its weights on local disk.

Nothing here downloads: the model loads from ``settings.model_path`` only (``local_files_only``).
transformers and torch are imported when the detector is built, so the default install (rapid-layout
only) never pays for them. Pre- and post-processing are done here with numpy and Pillow because the
transformers image processor for this model needs torchvision, which has no CPU build matching our
torch pin; the model's own preprocessing values are read from the folder's ``preprocessor_config.json``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from tierocr.config import LayoutSettings
from tierocr.document import BBox
from tierocr.errors import EngineUnavailableError
from tierocr.layout.detector import LayoutDetector, Region, clip_region, suppress_overlaps

#: PP-DocLayout-V3's published preprocessing, used when the weights folder does not say otherwise.
_MODEL_INPUT = MappingProxyType({"height": 800, "width": 800})
_MODEL_MEAN = (0.0, 0.0, 0.0)
_MODEL_STD = (1.0, 1.0, 1.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def reading_ranks(order_logits: np.ndarray) -> np.ndarray:
    """Rank of each query in the model's reading order (0 = first).

    The order head scores, for i < j, the chance that query i is read before query j; a query's rank
    is its expected number of predecessors.
    """
    p = _sigmoid(order_logits)
    n = p.shape[0]
    upper = np.triu(p, k=1)  # P(i before j) for i < j
    before = upper + np.tril(1.0 - p.T, k=-1)  # and for i > j, 1 - P(j before i)
    predecessors = before.sum(axis=0)
    ranks = np.empty(n, dtype=int)
    ranks[np.argsort(predecessors, kind="stable")] = np.arange(n)
    return ranks


class PPDocLayoutDetector(LayoutDetector):
    """``PPDocLayoutV3ForObjectDetection`` on the CPU; also reports the model's reading order per region."""

    name = "pp-doclayout-v3"

    def __init__(self, settings: LayoutSettings, threads: int = 0) -> None:
        if settings.model_path is None:
            raise EngineUnavailableError("PP-DocLayout-V3 needs layout.model_path (a local weights folder)")
        path = Path(settings.model_path).expanduser()
        if not (path / "config.json").is_file():
            raise EngineUnavailableError(f"{path}: no PP-DocLayout-V3 weights (config.json) there")
        try:
            import torch
            from transformers import PPDocLayoutV3ForObjectDetection
        except ImportError as exc:
            raise EngineUnavailableError(
                f"PP-DocLayout-V3 needs transformers and torch (pip install tierocr[layout-hf]): {exc}"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        try:
            self._model: Any = PPDocLayoutV3ForObjectDetection.from_pretrained(
                str(path), local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise EngineUnavailableError(f"{path}: cannot load PP-DocLayout-V3: {exc}") from exc
        self._model.eval()
        self._torch = torch
        self._preprocess = _read_preprocessing(path / "preprocessor_config.json")
        self._threshold = settings.score_threshold
        self._nms_iou = settings.nms_iou
        # One forward pass at a time: torch already spreads it over the CPU threads.
        self._lock = threading.Lock()

    def _label(self, index: int) -> str:
        id2label = self._model.config.id2label or {}
        return str(id2label.get(index, id2label.get(str(index), f"label_{index}"))).lower()

    def _pixels(self, image: Image.Image) -> np.ndarray:
        cfg = self._preprocess
        resized = image.resize((cfg["width"], cfg["height"]), Image.Resampling.BICUBIC)
        array = np.asarray(resized, dtype=np.float32) * cfg["rescale"]
        array = (array - np.asarray(cfg["mean"], dtype=np.float32)) / np.asarray(cfg["std"], dtype=np.float32)
        return array.transpose(2, 0, 1)[None]

    def detect(self, image: Image.Image) -> list[Region]:
        rgb = image.convert("RGB")
        pixels = self._torch.from_numpy(np.ascontiguousarray(self._pixels(rgb)))
        with self._lock, self._torch.inference_mode():
            outputs = self._model(pixel_values=pixels)
        scores = _sigmoid(outputs.logits[0].float().numpy())  # (queries, labels)
        boxes = outputs.pred_boxes[0].float().numpy()  # (queries, 4): cx, cy, w, h in 0..1
        order_logits = getattr(outputs, "order_logits", None)
        ranks = reading_ranks(order_logits[0].float().numpy()) if order_logits is not None else None
        regions: list[Region] = []
        for q in range(scores.shape[0]):
            label = int(scores[q].argmax())
            score = float(scores[q, label])
            if score < self._threshold:
                continue
            cx, cy, w, h = boxes[q]
            box = BBox(
                x0=float(cx - w / 2) * rgb.width,
                y0=float(cy - h / 2) * rgb.height,
                x1=float(cx + w / 2) * rgb.width,
                y1=float(cy + h / 2) * rgb.height,
            )
            order = int(ranks[q]) if ranks is not None else None
            region = clip_region(Region(self._label(label), score, box, order), rgb.width, rgb.height)
            if region is not None:
                regions.append(region)
        return suppress_overlaps(regions, self._nms_iou)


def _read_preprocessing(path: Path) -> dict[str, Any]:
    """Input size, rescale factor, mean and std from the image processor's JSON, if the folder has it."""
    data: dict[str, Any] = {}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    size = data.get("size") or _MODEL_INPUT
    return {
        "height": int(size.get("height", _MODEL_INPUT["height"])),
        "width": int(size.get("width", _MODEL_INPUT["width"])),
        "rescale": float(data.get("rescale_factor", 1 / 255)) if data.get("do_rescale", True) else 1.0,
        "mean": data.get("image_mean", _MODEL_MEAN) if data.get("do_normalize", True) else _MODEL_MEAN,
        "std": data.get("image_std", _MODEL_STD) if data.get("do_normalize", True) else _MODEL_STD,
    }
