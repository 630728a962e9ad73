"""Pages stored turned: does each read as its upright self, and what does the orientation step cost?

1. A generated scan (title and two paragraphs) is stored turned 0/90/180/270° four ways (image pixels,
   image-only PDF pixels, upright image PDF with /Rotate, pixels plus /Rotate) and parsed with the
   default settings; each read is scored against the upright read (NED, target <= 0.05).
2. The orientation step's cost per page: the classifier alone (a confident page), and the text vote the
   unsure pages pay (line detection plus reading a few lines at each candidate turn).
3. With ``--corpus``, the corpus's page scans turned four ways: how often the step finds the right turn,
   how often the vote was needed, and what the step cost.

Prints tables and writes bench/rotation.json. Run: `python bench/rotation.py [--corpus] [--no-layout]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"
#: Corpus scans (page images and image-only PDFs) for the orientation step's accuracy and cost.
_CORPUS_SCANS = (
    "tesseract_test/8071_093.3B.tif",
    "tesseract_test/phototest.tif",
    "ocrd_gt/clauren_mimil_1815_0023.jpg",
    "ocrd_gt/laube_europa0202_1837_0006.jpg",
    "olmocr_bench/lincoln_letter.pdf",
    "sroie/000.jpg",
    "omnidocbench/docstructbench_dianzishu_zhongwenzaixian-o.O-60599898.pdf_30.jpg",
    "omnidocbench/notes_1ba14cb325bc448f7201b20502ecf2b5_15.jpg",
    "omnidocbench/jiaocaineedrop_jiaocai_needrop_en_1898.jpg",
)


def _storage_table(layout: bool) -> list[dict[str, Any]]:
    from tierocr.config import Settings
    from tierocr.evaluation.metrics import normalized_edit_distance
    from tierocr.pipeline import Pipeline
    from tierocr.samples.turned import KINDS, TURNS, stored_turned, turned_scan_page

    settings = Settings()
    settings.layout.enabled = layout
    pipeline = Pipeline(settings)
    page = turned_scan_page()
    upright = pipeline.parse(stored_turned(page, "image", 0)).pages[0].text
    rows = []
    for kind in KINDS:
        for clockwise in TURNS:
            started = time.perf_counter()
            read = pipeline.parse(stored_turned(page, kind, clockwise)).pages[0]
            rows.append(
                {
                    "kind": kind,
                    "turned": clockwise,
                    "ned_vs_upright": round(normalized_edit_distance(upright, read.text), 4),
                    "rotation_applied": read.rotation,
                    "orientation_s": read.timings.get("orientation"),
                    "page_s": round(time.perf_counter() - started, 3),
                }
            )
    return rows


def _step_cost(image: Any, repeats: int = 3) -> dict[str, float]:
    """Seconds of the classifier path and of the text vote on one page (best of ``repeats``)."""
    from tierocr.engines.orientation import OrientationFixer

    fixer = OrientationFixer()
    fixer.detect(image)
    fixer.vote(image)  # models loaded outside the timing
    classify, vote = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fixer._classify(image)
        t1 = time.perf_counter()
        fixer.vote(image)
        vote.append(time.perf_counter() - t1)
        classify.append(t1 - t0)
    return {"classifier_s": round(min(classify), 4), "vote_s": round(min(vote), 4)}


def _corpus_table() -> list[dict[str, Any]]:
    from tierocr.config import Settings
    from tierocr.engines.orientation import OrientationFixer
    from tierocr.inputs import open_document
    from tierocr.samples.turned import TURNS, turn

    settings = Settings()
    fixer = OrientationFixer(settings.ocr.rotation_min_confidence)
    rows = []
    for name in _CORPUS_SCANS:
        path = CORPUS / name
        if not path.is_file():
            continue
        with open_document(path, settings.input, pages="1") as loaded:
            image = next(iter(loaded.iter_pages())).image
        for clockwise in TURNS:
            turned = turn(image, clockwise)
            label, confidence = fixer._classify(turned)
            started = time.perf_counter()
            found = fixer.detect(turned)
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "scan": name,
                    "turned": clockwise,
                    "classifier": f"{label}@{confidence:.2f}",
                    "correction": found,
                    "right": (found + clockwise) % 360 == 0,
                    "seconds": round(seconds, 3),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", action="store_true", help="Also run the step on turned corpus scans.")
    parser.add_argument("--no-layout", action="store_true", help="Parse in full-page mode.")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "rotation.json")
    args = parser.parse_args()

    from tierocr.samples.turned import turned_scan_page

    results: dict[str, Any] = {"storage": _storage_table(layout=not args.no_layout)}
    print(f"{'kind':<11} {'turned':>6} {'NED vs upright':>14} {'applied':>7} {'orient s':>8} {'page s':>7}")
    for row in results["storage"]:
        print(
            f"{row['kind']:<11} {row['turned']:>6} {row['ned_vs_upright']:>14.4f} "
            f"{row['rotation_applied']:>7} {row['orientation_s'] or 0:>8.3f} {row['page_s']:>7.2f}"
        )
    worst = max(row["ned_vs_upright"] for row in results["storage"])
    print(f"worst NED vs upright: {worst:.4f} (target <= 0.05)")

    results["step_cost"] = _step_cost(turned_scan_page())
    cost = results["step_cost"]
    print(
        f"orientation step: classifier {cost['classifier_s']:.3f} s/page; "
        f"text vote {cost['vote_s']:.3f} s/page"
    )

    if args.corpus:
        results["corpus"] = _corpus_table()
        for row in results["corpus"]:
            mark = "" if row["right"] else "  WRONG"
            print(
                f"{row['scan'][:44]:<44} {row['turned']:>4} {row['classifier']:>9} -> {row['correction']:>3} "
                f"{row['seconds']:>6.3f}s{mark}"
            )
        seconds = [row["seconds"] for row in results["corpus"]]
        right = sum(row["right"] for row in results["corpus"])
        print(
            f"corpus scans: {right}/{len(seconds)} right; step median {statistics.median(seconds):.3f} s, "
            f"max {max(seconds):.3f} s"
        )
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
