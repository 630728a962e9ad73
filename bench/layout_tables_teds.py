"""Which table-structure backend to ship: TEDS of each on the PubTabNet rows of the dev corpus.

Every candidate gets the same words (one RapidOCR pass over the table image), so the scores compare
structure finding, not OCR. pdfplumber needs a PDF: it gets one made from the image with the OCR words
as invisible text, which is what its text strategy would see on a scanned PDF with an OCR layer.
Usage: .venv/bin/python bench/layout_tables_teds.py [../shared/corpus]
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tierocr.document import BBox
from tierocr.layout.tables.grid import TableStructure, Word, structure_from_cell_boxes
from tierocr.layout.tables.image import img2table_structure, word_grid_structure


def _teds(pred_html: str, gt_html: str) -> tuple[float, float]:
    """(TEDS, TEDS-S) with the evaluation module's scorer; an output without a table scores 0."""
    from tierocr.evaluation.tables import parse_html_tables
    from tierocr.evaluation.teds import best_teds

    reference = parse_html_tables(gt_html)[0]
    score = best_teds(reference, parse_html_tables(pred_html))
    return (score.teds, score.teds_structure) if score else (0.0, 0.0)


def _ocr_words(image: Image.Image) -> list[Word]:
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.use_cls": False})
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


def main(corpus: Path) -> None:
    images = sorted((corpus / "pubtabnet").glob("*.png"))
    backends: dict[str, Callable[[Image.Image, list[Word]], TableStructure | None]] = {
        "img2table": img2table_structure,
        "word_grid": lambda img, words: word_grid_structure(words, img.width, img.height),
        "img2table→word_grid": lambda img, words: (
            img2table_structure(img, words) or word_grid_structure(words, img.width, img.height)
        ),
        "pdfplumber(text)": _pdfplumber_text,
    }
    scores: dict[str, list[float]] = {name: [] for name in backends}
    struct_scores: dict[str, list[float]] = {name: [] for name in backends}
    seconds: dict[str, float] = dict.fromkeys(backends, 0.0)
    print(f"{'image':<22}" + "".join(f"{name:>24}" for name in backends))
    for path in images:
        gt = (path.parent / path.name.replace(".png", ".gt.html")).read_text()
        image = Image.open(path).convert("RGB")
        words = _ocr_words(image)
        row = f"{path.stem:<22}"
        for name, backend in backends.items():
            start = time.perf_counter()
            structure = backend(image, words)
            seconds[name] += time.perf_counter() - start
            html = structure.to_html() if structure else ""
            score, struct = _teds(html, gt)
            scores[name].append(score)
            struct_scores[name].append(struct)
            row += f"{score:>16.3f} /{struct:>6.3f}"
        print(row)
    print(
        f"{'mean TEDS / TEDS-S':<22}"
        + "".join(f"{np.mean(scores[n]):>16.3f} /{np.mean(struct_scores[n]):>6.3f}" for n in backends)
    )
    print(f"{'seconds (structure)':<22}" + "".join(f"{seconds[n]:>24.2f}" for n in backends))


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
