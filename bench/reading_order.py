"""Reading order on generated layouts: each page's parse scored against the order a reader reads it.

Pages come from :mod:`tierocr.samples.layouts` (2, 3, 4 columns, a figure band, an inset, newspaper
zones, footnotes). Each is read from its text layer and from a scan of it, in layout mode and in
full-page mode, and scored by NED against the page's text in reading order, the metric the corpus uses.
A read that jumps columns mid-paragraph or swaps bands costs whole paragraphs of distance.

    python bench/reading_order.py [--json bench/reading_order.json] [--only NAME] [--no-scan]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tierocr.config import Settings
from tierocr.evaluation.metrics import normalized_edit_distance
from tierocr.evaluation.normalize import normalize_for_ned
from tierocr.pipeline import Pipeline
from tierocr.render.markdown import render_markdown
from tierocr.samples.layouts import LAYOUTS
from tierocr.samples.synthetic import image_pdf, render_page, scan_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("bench/reading_order.json"))
    parser.add_argument("--only", default=None)
    parser.add_argument("--no-scan", action="store_true", help="text-layer reads only (fast)")
    args = parser.parse_args()
    modes = {"layout": True, "full-page": False}
    pipelines = {
        mode: Pipeline(Settings(layout={"enabled": on}))  # type: ignore[arg-type]
        for mode, on in modes.items()
    }
    rows = []
    for name, make in LAYOUTS.items():
        if args.only and args.only not in name:
            continue
        page = make()
        reference = normalize_for_ned(page.text)
        sources = {"text layer": page.pdf}
        if not args.no_scan:
            sources["scan"] = image_pdf([scan_of(render_page(page.pdf, dpi=200))])
        for source, data in sources.items():
            for mode, pipeline in pipelines.items():
                t0 = time.perf_counter()
                document = pipeline.parse(data, name=f"{name}.pdf")
                seconds = time.perf_counter() - t0
                hypothesis = normalize_for_ned(render_markdown(document, pipeline.settings.render))
                ned = normalized_edit_distance(reference, hypothesis)
                rows.append({"layout": name, "source": source, "mode": mode, "ned": ned, "seconds": seconds})
                print(f"{name:10} {source:10} {mode:9} NED {ned:.3f}  {seconds:5.2f} s", flush=True)
    print()
    print("| layout | source | layout mode NED | full-page NED |")
    print("| --- | --- | --- | --- |")
    keyed = {(r["layout"], r["source"], r["mode"]): r["ned"] for r in rows}
    for name, source in dict.fromkeys((r["layout"], r["source"]) for r in rows):
        on, off = keyed[name, source, "layout"], keyed[name, source, "full-page"]
        print(f"| {name} | {source} | {on:.3f} | {off:.3f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
