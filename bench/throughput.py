"""Throughput and memory of the CPU tiers.

Scenarios, each in a fresh process so that its peak RSS is its own:
  text_layer   born-digital pages read from the PDF text layer (layout mode off: the cheapest path)
  layout       the same pages in layout mode (the default: rendered, regions detected, text from the layer)
  rapidocr     the same pages rendered at 200 dpi and forced through RapidOCR (layout mode off)
  long_3       a generated 3-page PDF, text layer
  long_300     a generated 300-page PDF, text layer: peak RSS must stay within 1.5x of long_3's
  layout_3, layout_30   the generated PDF in layout mode, 3 against 30 pages: memory stays flat there too

Prints a table and writes bench/results.json. Run: `python bench/throughput.py [--ocr-pages N]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"


def _born_digital_pdf(workdir: Path, pages: int) -> Path:
    from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

    path = workdir / f"generated-{pages}.pdf"
    if not path.exists():
        body = [list(PARAGRAPHS) * 4 for _ in range(pages)]
        path.write_bytes(text_pdf(body, title="Throughput benchmark", columns=2))
    return path


def _run_scenario(name: str, path: str, pages: str | None) -> dict[str, float]:
    """Runs inside the child process: parse, then report pages/s and this process's peak RSS."""
    from tierocr.config import Settings
    from tierocr.pipeline import Pipeline

    settings = Settings()
    settings.layout.enabled = name == "layout"
    if name == "rapidocr":
        settings.text_layer.enabled = False  # force every page through the engine
    pipeline = Pipeline(settings)
    if name == "rapidocr":
        _ = pipeline.engine  # model load is a one-off cost, not throughput
    started = time.perf_counter()
    count = 0
    chars = 0
    with pipeline.iter_pages(Path(path), pages=pages) as stream:
        for page in stream:
            count += 1
            chars += len(page.text)
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "pages": count,
        "seconds": elapsed,
        "pages_per_s": count / elapsed,
        "peak_rss_mb": peak_kb / 1024,
        "chars": chars,
    }


def _spawn(name: str, path: Path, pages: str | None) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", name, str(path)] + (["--pages", pages] if pages else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--pages", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ocr-pages", type=int, default=4, help="born-digital pages to force through OCR")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_scenario(args.child[0], args.child[1], args.pages)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        docling = CORPUS / "docling" / "normal_4pages.pdf"
        digital = docling if docling.exists() else _born_digital_pdf(workdir, 4)
        pages = f"1-{args.ocr_pages}" if args.ocr_pages < 4 else None
        results = {
            "text_layer": _spawn("text_layer", digital, pages),
            "layout": _spawn("layout", digital, pages),
            "rapidocr": _spawn("rapidocr", digital, pages),
            "long_3": _spawn("long", _born_digital_pdf(workdir, 3), None),
            "long_300": _spawn("long", _born_digital_pdf(workdir, 300), None),
            "layout_3": _spawn("layout", _born_digital_pdf(workdir, 3), None),
            "layout_30": _spawn("layout", _born_digital_pdf(workdir, 30), None),
        }
    ratio = results["long_300"]["peak_rss_mb"] / results["long_3"]["peak_rss_mb"]
    results["summary"] = {
        "input": str(digital),
        "rss_ratio_300_vs_3": ratio,
        "flat_memory": ratio <= 1.5,
        "rss_ratio_layout_30_vs_3": results["layout_30"]["peak_rss_mb"] / results["layout_3"]["peak_rss_mb"],
        "text_layer_speedup_vs_ocr": results["text_layer"]["pages_per_s"]
        / results["rapidocr"]["pages_per_s"],
    }
    print(f"{'scenario':<12} {'pages':>6} {'seconds':>9} {'pages/s':>9} {'peak RSS MB':>12}")
    for name in ("text_layer", "layout", "rapidocr", "long_3", "long_300", "layout_3", "layout_30"):
        r = results[name]
        print(
            f"{name:<12} {r['pages']:>6.0f} {r['seconds']:>9.2f} {r['pages_per_s']:>9.2f} "
            f"{r['peak_rss_mb']:>12.1f}"
        )
    print(f"peak RSS 300 pages / 3 pages = {ratio:.2f} (target <= 1.5)")
    print(f"layout mode: peak RSS 30 pages / 3 pages = {results['summary']['rss_ratio_layout_30_vs_3']:.2f}")
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
