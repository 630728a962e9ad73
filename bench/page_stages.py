"""Where a born-digital page's time goes in layout mode, stage by stage, one page at a time.

Wraps the stages of a layout-mode page (render, text layer, layout detection, the PDF's words through
pdfplumber, region ownership, separators, region recognition, the gate) with CPU-time counters and
parses born-digital PDFs with one worker and single-threaded models, so that the figures are CPU
seconds per page, comparable between two checkouts (run it with PYTHONPATH pointing at each) and little
disturbed by other load on the machine. Uses only what every checkout has, so it measures the one before
a change as well as the one after.

Run: `PYTHONPATH=src python bench/page_stages.py [PDF ...] [--label after] [-o bench/stages.json]`.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus" / "docling"
DEFAULT = ("normal_4pages.pdf", "2305.03393v1-pg9.pdf", "code_and_formula.pdf", "amt_handbook_sample.pdf")


def _timed(owner: Any, name: str, label: str, spent: collections.Counter[str]) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started

    setattr(owner, name, wrapper)


def _instrument(spent: collections.Counter[str]) -> None:
    import tierocr.inputs.pdf as pdf
    import tierocr.layout.parser as parser
    import tierocr.pipeline as pipeline
    from tierocr.layout.rapid_detector import RapidLayoutDetector
    from tierocr.layout.regions import RegionRecognizer

    for prop, label in (("image", "render"), ("text_layer", "text_layer")):
        getter: Callable[[Any], Any] = getattr(pdf.PdfPageInput, prop).fget

        def timed_get(self: Any, getter: Callable[[Any], Any] = getter, label: str = label) -> Any:
            started = time.process_time()
            try:
                return getter(self)
            finally:
                spent[label] += time.process_time() - started

        setattr(pdf.PdfPageInput, prop, property(timed_get))
    _timed(RapidLayoutDetector, "detect", "layout_detect", spent)
    _timed(parser, "page_words", "pdf_words", spent)
    _timed(parser, "assign_owners", "region_owners", spent)
    _timed(parser, "find_separators", "separators", spent)
    _timed(parser, "reading_order", "reading_order", spent)
    _timed(RegionRecognizer, "recognize", "regions", spent)
    _timed(pipeline, "gate_page", "gate", spent)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pdfs", nargs="*", type=Path)
    parser.add_argument("--label", default="")
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args()
    pdfs = args.pdfs or [CORPUS / name for name in DEFAULT if (CORPUS / name).exists()]

    from tierocr.config import Settings
    from tierocr.pipeline import Pipeline

    spent: collections.Counter[str] = collections.Counter()
    _instrument(spent)
    settings = Settings()
    settings.ocr.threads = 1  # CPU seconds of one core, comparable whatever the machine's load
    settings.layout.max_concurrency = 1
    if hasattr(settings, "pipeline"):
        settings.pipeline.workers = 1
    pipeline = Pipeline(settings)
    pipeline.parse(pdfs[0], pages="1")  # models loaded outside the figures
    per_page: list[dict[str, float]] = []
    for path in pdfs:
        for number in range(1, _page_count(path) + 1):
            spent.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            doc = pipeline.parse(path, pages=str(number))
            row = {k: round(v, 4) for k, v in spent.items()}
            row["total_cpu"] = round(time.process_time() - cpu, 4)
            row["total_wall"] = round(time.perf_counter() - wall, 4)
            row["tier"] = str(doc.pages[0].tier)  # type: ignore[assignment]
            per_page.append({"page": f"{path.name}:{number}", **row})  # type: ignore[dict-item]
    stages = sorted({k for row in per_page for k in row if k not in ("page", "tier")})
    medians = {k: statistics.median(float(row.get(k, 0.0)) for row in per_page) for k in stages}
    means = {k: statistics.fmean(float(row.get(k, 0.0)) for row in per_page) for k in stages}
    print(f"{args.label or sys.path[0]}: {len(per_page)} pages, load average {os.getloadavg()}")
    print(f"{'stage':<16} {'median s':>9} {'mean s':>9}")
    for k in sorted(stages, key=lambda k: -means[k]):
        print(f"{k:<16} {medians[k]:>9.4f} {means[k]:>9.4f}")
    if args.output:
        args.output.write_text(
            json.dumps({"label": args.label, "median": medians, "mean": means, "pages": per_page}, indent=2)
        )


def _page_count(path: Path) -> int:
    from tierocr.config import Settings
    from tierocr.inputs import open_document

    loaded = open_document(path, Settings().input)
    try:
        return loaded.page_count
    finally:
        loaded.close()


if __name__ == "__main__":
    main()
