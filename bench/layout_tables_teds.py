"""Which table-structure backend to ship: TEDS / TEDS-S and time of each on the PubTabNet rows of the corpus.

Every candidate gets the same words (one RapidOCR pass over the table image), so the scores compare
structure finding, not OCR. pdfplumber needs a PDF: it gets one made from the image with the OCR words
as invisible text, which is what its text strategy would see on a scanned PDF with an OCR layer.
LORE (``lineless-table-rec``) and cycle-CenterNet (``wired-table-rec``) are scored through their own
packages' structure output (cells with logical rows/columns; their OCR is not used) when installed; they
are not tierocr dependencies because they pull ``rapidocr-onnxruntime``: install them with ``--no-deps``
into a scratch folder on PYTHONPATH to include them. Time is the structure step alone per table, with
the model's loading reported apart.
Usage: python bench/layout_tables_teds.py [../shared/corpus] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tierocr.document import BBox
from tierocr.layout.tables import TableModel
from tierocr.layout.tables.grid import GridCell, TableStructure, Word, structure_from_cell_boxes
from tierocr.layout.tables.image import img2table_structure, word_grid_structure

Backend = Callable[[Image.Image, list[Word]], TableStructure | None]
_MODEL = TableModel()


def _teds(pred_html: str, gt_html: str) -> tuple[float, float]:
    """(TEDS, TEDS-S) with the evaluation module's scorer; an output without a table scores 0."""
    from tierocr.evaluation.tables import parse_html_tables
    from tierocr.evaluation.teds import best_teds

    reference = parse_html_tables(gt_html)[0]
    score = best_teds(reference, parse_html_tables(pred_html))
    return (score.teds, score.teds_structure) if score else (0.0, 0.0)


def _ocr_words(engine: Any, image: Image.Image) -> list[Word]:
    result = engine(np.asarray(image.convert("RGB")))
    words: list[Word] = []
    for text, box in zip(result.txts or (), result.boxes if result.boxes is not None else (), strict=False):
        xs = [p[0] for p in box]
        ys = [p[1] for p in box]
        words.append(Word(text=str(text), bbox=BBox(x0=min(xs), y0=min(ys), x1=max(xs), y1=max(ys))))
    return words


def _pdfplumber_text(image: Image.Image, words: list[Word]) -> TableStructure | None:
    import pdfplumber
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(image.width, image.height))
    pdf.drawImage(ImageReader(image), 0, 0, width=image.width, height=image.height)
    for word in words:
        size = max(word.bbox.height * 0.8, 4)
        text = pdf.beginText()
        text.setTextRenderMode(3)  # invisible, like an OCR layer
        text.setFont("Helvetica", size)
        text.setHorizScale(100 * word.bbox.width / max(pdf.stringWidth(word.text, "Helvetica", size), 1))
        text.setTextOrigin(word.bbox.x0, image.height - word.bbox.y1 + word.bbox.height * 0.2)
        text.textOut(word.text)
        pdf.drawText(text)
    pdf.save()
    with pdfplumber.open(io.BytesIO(buffer.getvalue())) as doc:
        page = doc.pages[0]
        tables = page.find_tables(table_settings={"vertical_strategy": "text", "horizontal_strategy": "text"})
        if not tables:
            return None
        table = max(tables, key=lambda t: (t.bbox[2] - t.bbox[0]) * (t.bbox[3] - t.bbox[1]))
        boxes = [BBox(x0=c[0], y0=c[1], x1=c[2], y1=c[3]) for c in table.cells]
    structure = structure_from_cell_boxes(boxes, tolerance=2.0, backend="pdfplumber-text")
    return structure.with_text(words) if structure else None


def _from_logic_points(boxes: Any, logic: Any, words: list[Word], backend: str) -> TableStructure | None:
    """A grid from cells with inclusive (row_start, row_end, col_start, col_end), as LORE and
    cycle-CenterNet's table recovery report them; a cell landing on taken slots is dropped."""
    if boxes is None or logic is None or len(boxes) == 0:
        return None
    cells: list[GridCell] = []
    taken: set[tuple[int, int]] = set()
    for box, (r0, r1, c0, c1) in zip(boxes, np.asarray(logic).tolist(), strict=False):
        slots = {(r, c) for r in range(int(r0), int(r1) + 1) for c in range(int(c0), int(c1) + 1)}
        if not slots or slots & taken:
            continue
        taken |= slots
        x0, y0, x1, y1 = (float(v) for v in box[:4])
        cells.append(
            GridCell(
                row=int(r0), col=int(c0), bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1),
                rowspan=int(r1) - int(r0) + 1, colspan=int(c1) - int(c0) + 1,
            )
        )  # fmt: skip
    if not cells:
        return None
    n_rows = max(c.row + c.rowspan for c in cells)
    n_cols = max(c.col + c.colspan for c in cells)
    return TableStructure(n_rows, n_cols, cells, header_rows=1, backend=backend).with_text(words)


def _checked_auto(image: Image.Image, words: list[Word]) -> TableStructure | None:
    """What layout mode ships: ``auto``'s backends in turn, the first grid that passes the table check
    (a refused table scores 0 here: the price of the check on real tables)."""
    from tierocr.config.layout import TableCheckSettings
    from tierocr.layout.tables import table_candidates
    from tierocr.layout.tables.plausibility import is_ruled, measure, rejection

    check = TableCheckSettings()
    ruled = is_ruled(image)
    for structure in table_candidates(image, words, backend="auto", model=_MODEL):
        if rejection(measure(structure, words), check, ruled=ruled) is None:
            return structure
    return None


def _optional_backends() -> tuple[dict[str, Backend], dict[str, str], dict[str, float]]:
    """The model backends that are installed, why the others are missing, and each one's loading time."""
    backends: dict[str, Backend] = {}
    missing: dict[str, str] = {}
    loading: dict[str, float] = {}

    start = time.perf_counter()
    try:
        from tierocr.layout.tables.slanet import SlanetPlus, structure_from_tokens

        slanet = SlanetPlus()

        def run_slanet(image: Image.Image, words: list[Word]) -> TableStructure | None:
            tokens, boxes = slanet.predict(image)
            structure = structure_from_tokens(tokens, boxes, "slanet")
            return structure.with_text(words).compact() if structure else None

        backends["slanet-plus"] = run_slanet
        loading["slanet-plus"] = time.perf_counter() - start
    except Exception as exc:  # a missing package or a broken model file: report it, score the rest
        missing["slanet-plus"] = f"{type(exc).__name__}: {exc}"

    start = time.perf_counter()
    try:
        from lineless_table_rec import LinelessTableRecognition

        lore = LinelessTableRecognition()

        def run_lore(image: Image.Image, words: list[Word]) -> TableStructure | None:
            bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
            _, _, boxes, logic, _ = lore(bgr, need_ocr=False)
            return _from_logic_points(boxes, logic, words, "lore")

        backends["lore"] = run_lore
        loading["lore"] = time.perf_counter() - start
    except Exception as exc:
        missing["lore"] = f"{type(exc).__name__}: {exc}"

    start = time.perf_counter()
    try:
        from wired_table_rec import WiredTableRecognition

        wired = WiredTableRecognition(version="v2")

        def run_wired(image: Image.Image, words: list[Word]) -> TableStructure | None:
            bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
            _, _, boxes, logic, _ = wired(bgr, need_ocr=False)
            return _from_logic_points(boxes, logic, words, "cycle-centernet")

        backends["cycle-centernet-v2"] = run_wired
        loading["cycle-centernet-v2"] = time.perf_counter() - start
    except Exception as exc:
        missing["cycle-centernet-v2"] = f"{type(exc).__name__}: {exc}"
    return backends, missing, loading


def main(corpus: Path, out: Path | None) -> None:
    from rapidocr import RapidOCR

    images = sorted((corpus / "pubtabnet").glob("*.png"))
    backends: dict[str, Backend] = {
        "img2table": img2table_structure,
        "word_grid": lambda img, words: word_grid_structure(words, img.width, img.height),
        "img2table→word_grid": lambda img, words: (
            img2table_structure(img, words) or word_grid_structure(words, img.width, img.height)
        ),
        "pdfplumber(text)": _pdfplumber_text,
    }
    models, missing, loading = _optional_backends()
    backends.update(models)
    backends["auto, checked"] = _checked_auto
    engine = RapidOCR(params={"Global.use_cls": False})
    results: dict[str, dict[str, Any]] = {name: {"rows": {}, "seconds": []} for name in backends}
    for path in images:
        gt = (path.parent / path.name.replace(".png", ".gt.html")).read_text()
        image = Image.open(path).convert("RGB")
        words = _ocr_words(engine, image)
        for name, backend in backends.items():
            start = time.perf_counter()
            structure = backend(image, words)
            results[name]["seconds"].append(time.perf_counter() - start)
            teds, teds_s = _teds(structure.to_html() if structure else "", gt)
            results[name]["rows"][path.stem] = {"teds": round(teds, 4), "teds_s": round(teds_s, 4)}
    width = max(len(n) for n in backends) + 2
    print(
        f"{'backend':<{width}}"
        + "".join(f"{p.stem[:17]:>19}" for p in images)
        + f"{'mean':>16}{'s/table':>9}"
    )
    for name, result in results.items():
        rows = result["rows"]
        teds = float(np.mean([r["teds"] for r in rows.values()]))
        teds_s = float(np.mean([r["teds_s"] for r in rows.values()]))
        seconds = float(np.mean(result["seconds"]))
        result.update(
            mean_teds=round(teds, 4), mean_teds_s=round(teds_s, 4), seconds_per_table=round(seconds, 3)
        )
        result["load_seconds"] = round(loading.get(name, 0.0), 2)
        cells = "".join(f"{r['teds']:>11.3f} /{r['teds_s']:>6.3f}" for r in rows.values())
        print(f"{name:<{width}}{cells}{teds:>8.3f} /{teds_s:>6.3f}{seconds:>9.2f}")
    for name, seconds in loading.items():
        print(f"{name}: model loading {seconds:.2f} s (once per process)")
    for name, why in missing.items():
        print(f"{name}: not run ({why})")
    if out is not None:
        payload = {"backends": {k: {**v, "seconds": None} for k, v in results.items()}, "missing": missing}
        out.write_text(json.dumps(payload, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "corpus", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args()
    main(args.corpus, args.json)
