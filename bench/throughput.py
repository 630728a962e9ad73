"""Throughput and memory of the classical tiers, with 1 page worker and with N, threads and processes.

Sets (one run of several documents each, as `tierocr parse a.pdf b.pdf ...` runs them):
  born_digital  the corpus's born-digital docling PDFs and a generated 24-page two-column report
  scanned       a generated image-only PDF: 8 scanned pages of one-column text at 200 dpi
  mixed         both, in one run
Scenarios, each in a fresh process so that its peak RSS is its own:
  floor         born_digital from the text layer only (layout mode off): the physical limit
  layout        the default (layout mode), per set, with 1 worker, N threads and N processes
  cuda          the same on `ocr.device=cuda`, only when onnxruntime offers CUDA here
Each scenario first parses a warm-up document (models load once, outside the timing), then times the
run. Then the flat-memory checks: a generated text PDF of 3 against 300 pages (text layer), and of 3
against 30 pages in layout mode, peak RSS of each.

Prints the load average beside the table (a shared machine's figures mean little without it), the
scaling ratio N workers / 1 worker per set, and writes bench/results.json.
Run: `python bench/throughput.py [--workers N] [--sets born_digital,scanned,mixed] [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"
BORN_DIGITAL = (
    "2305.03393v1-pg9.pdf",
    "amt_handbook_sample.pdf",
    "code_and_formula.pdf",
    "normal_4pages.pdf",
    "right_to_left_01.pdf",
    "table_mislabeled_as_picture.pdf",
)


def _generated_report(workdir: Path, pages: int) -> Path:
    from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

    path = workdir / f"report-{pages}.pdf"
    if not path.exists():
        body = [list(PARAGRAPHS) * 4 for _ in range(pages)]
        path.write_bytes(text_pdf(body, title="Throughput benchmark", columns=2))
    return path


def _scanned(workdir: Path, pages: int, crop: bool = False) -> Path:
    from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, render_page, scan_of, text_pdf

    path = workdir / f"scanned-{pages}{'-crop' if crop else ''}.pdf"
    if not path.exists():
        source = text_pdf([[PARAGRAPHS[n % 3], PARAGRAPHS[(n + 1) % 3]] for n in range(pages)], footer=False)
        images = []
        for n in range(pages):
            image = render_page(source, n, dpi=200)
            images.append(scan_of(image.crop((0, 0, image.width, image.height // 3)) if crop else image))
        path.write_bytes(image_pdf(images, dpi=200))
    return path


def _sets(workdir: Path) -> dict[str, list[Path]]:
    corpus = [CORPUS / "docling" / name for name in BORN_DIGITAL if (CORPUS / "docling" / name).exists()]
    born = [*corpus, _generated_report(workdir, 24)]
    scanned = [_scanned(workdir, 8)]
    return {"born_digital": born, "scanned": scanned, "mixed": [*born, *scanned]}


def _warmup(workdir: Path, workers: int, set_name: str) -> list[Path]:
    """Enough pages of the set's kinds that every worker (thread or process) loads the models the set
    needs, and none it does not (peak RSS is the set's own)."""
    born = [_generated_report(workdir, 2 * workers)]
    scanned = [_scanned(workdir, 2 * workers, crop=True)]
    return {"born_digital": born, "scanned": scanned}.get(set_name, born + scanned)


def _rusage_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _run_scenario(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs inside the child process: warm up, then parse the set; pages/s, CPU and peak RSS."""
    from tierocr.config import Settings
    from tierocr.parallel import PageDone, Source
    from tierocr.pipeline import Pipeline

    values: dict[str, Any] = {
        "layout": {"enabled": spec["layout"]},
        "ocr": {"device": spec["device"], "threads": spec.get("threads", 0)},
        "pipeline": {"workers": spec["workers"], "backend": spec["backend"]},
    }
    for section, fields in spec.get("settings", {}).items():
        values[section] = {**values.get(section, {}), **fields}
    settings = Settings.model_validate(values)
    pipeline = Pipeline(settings)
    for _ in pipeline.run([Source(Path(p)) for p in spec["warmup"]]):
        pass
    rss_before_run = _rusage_mb(resource.RUSAGE_SELF)
    cpu0 = time.process_time()
    started = time.perf_counter()
    pages = chars = 0
    for event in pipeline.run([Source(Path(p)) for p in spec["paths"]]):
        if isinstance(event, PageDone):
            pages += 1
            chars += len(event.page.text)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    compute = pipeline.compute_info()
    pipeline.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "pages": pages,
        "seconds": elapsed,
        "pages_per_s": pages / elapsed,
        "chars": chars,
        "cpu_s_parent": cpu,
        "cpu_s_children": children.ru_utime + children.ru_stime,
        "peak_rss_mb": _rusage_mb(resource.RUSAGE_SELF),
        "rss_after_warmup_mb": rss_before_run,
        "peak_rss_worker_process_mb": children.ru_maxrss / 1024 if spec["backend"] == "process" else 0.0,
        "providers": compute["providers"],
        "device": compute["device"],
    }


def _run_memory(path: str, layout: bool) -> dict[str, Any]:
    """Inside the child: one document, one worker; peak RSS (the flat-memory check)."""
    from tierocr.config import Settings
    from tierocr.pipeline import Pipeline

    settings = Settings.model_validate({"layout": {"enabled": layout}, "pipeline": {"workers": 1}})
    pipeline = Pipeline(settings)
    started = time.perf_counter()
    count = sum(1 for _ in pipeline.iter_pages(Path(path)))
    elapsed = time.perf_counter() - started
    return {
        "pages": count,
        "seconds": elapsed,
        "pages_per_s": count / elapsed,
        "peak_rss_mb": _rusage_mb(resource.RUSAGE_SELF),
    }


def _spawn(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, json.dumps(payload)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help="N (default: the available cores)")
    parser.add_argument("--sets", default="born_digital,scanned,mixed")
    parser.add_argument("--backends", default="thread,process")
    parser.add_argument("--quick", action="store_true", help="skip the flat-memory checks")
    parser.add_argument(
        "--model-threads",
        type=int,
        default=0,
        help="ocr.threads of the N-worker runs (default 0: the cores shared out between workers)",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the text-layer floor")
    parser.add_argument(
        "--settings",
        type=json.loads,
        default={},
        help='settings of every scenario, e.g. \'{"gate": {"agreement_text_layer_samples": 0}}\'',
    )
    parser.add_argument("-o", "--output", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.child:
        kind, payload = args.child[0], json.loads(args.child[1])
        result = _run_scenario(payload) if kind == "scenario" else _run_memory(**payload)
        print(json.dumps(result))
        return

    from tierocr.parallel.sizing import available_cores

    n = args.workers or available_cores()
    load_start = os.getloadavg()
    results: dict[str, Any] = {
        "workers_n": n,
        "cores": available_cores(),
        "settings": args.settings,
        "scenarios": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sets = _sets(workdir)
        devices = ["cpu", *(["cuda"] if _cuda_available() else [])]
        plan: list[tuple[str, dict[str, Any]]] = []
        for workers in () if args.no_floor else (1, n):
            plan.append(
                (
                    f"floor/born_digital/{workers}/thread/cpu",
                    _spec(sets, "born_digital", workers, "thread", "cpu", False, workdir),
                )
            )
        for device in devices:
            for set_name in args.sets.split(","):
                plan.append(
                    (
                        f"layout/{set_name}/1/thread/{device}",
                        _spec(sets, set_name, 1, "thread", device, True, workdir),
                    )
                )
                for backend in args.backends.split(","):
                    if n > 1:
                        plan.append(
                            (
                                f"layout/{set_name}/{n}/{backend}/{device}",
                                {
                                    **_spec(sets, set_name, n, backend, device, True, workdir),
                                    "threads": args.model_threads,
                                },
                            )
                        )
        for name, spec in plan:
            result = _spawn("scenario", {**spec, "settings": args.settings})
            result["load_avg_1m"] = os.getloadavg()[0]
            results["scenarios"][name] = result
            workers_rss = result["peak_rss_worker_process_mb"]
            extra = f" + {n} x {workers_rss:.0f} MB" if workers_rss else ""
            print(
                f"{name:<36} {result['pages']:>4} pages {result['seconds']:>7.2f} s "
                f"{result['pages_per_s']:>6.2f} p/s  RSS {result['peak_rss_mb']:>6.0f} MB{extra}"
                f"  load {result['load_avg_1m']:.2f}",
                flush=True,
            )
        if not args.quick:
            memory = {
                "long_3": _spawn("memory", {"path": str(_generated_report(workdir, 3)), "layout": False}),
                "long_300": _spawn("memory", {"path": str(_generated_report(workdir, 300)), "layout": False}),
                "layout_3": _spawn("memory", {"path": str(_generated_report(workdir, 3)), "layout": True}),
                "layout_30": _spawn("memory", {"path": str(_generated_report(workdir, 30)), "layout": True}),
            }
            results["memory"] = memory
    results["load_avg_start"] = load_start
    results["load_avg_end"] = os.getloadavg()
    results["scaling"] = _scaling(results["scenarios"], n)
    _print(results, n)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


def _spec(
    sets: dict[str, list[Path]],
    set_name: str,
    workers: int,
    backend: str,
    device: str,
    layout: bool,
    workdir: Path,
) -> dict[str, Any]:
    return {
        "paths": [str(p) for p in sets[set_name]],
        "warmup": [str(p) for p in _warmup(workdir, workers, set_name)],
        "workers": workers,
        "backend": backend,
        "device": device,
        "layout": layout,
    }


def _scaling(scenarios: dict[str, Any], n: int) -> dict[str, float]:
    """pages/s with N workers over pages/s with 1, per mode, set, backend and device."""
    out: dict[str, float] = {}
    for name, result in scenarios.items():
        mode, set_name, workers, backend, device = name.split("/")
        if workers == "1":
            continue
        one = scenarios.get(f"{mode}/{set_name}/1/thread/{device}")
        if one:
            out[f"{mode}/{set_name}/{backend}/{device}"] = result["pages_per_s"] / one["pages_per_s"]
    return out


def _print(results: dict[str, Any], n: int) -> None:
    print()
    print(f"load average at start {results['load_avg_start']}, at end {results['load_avg_end']}")
    print(f"{'scenario':<36} {'pages':>5} {'seconds':>8} {'pages/s':>8} {'peak RSS MB':>12} {'load':>5}")
    for name, r in results["scenarios"].items():
        rss = r["peak_rss_mb"] + (n * r["peak_rss_worker_process_mb"])
        print(
            f"{name:<36} {r['pages']:>5} {r['seconds']:>8.2f} {r['pages_per_s']:>8.2f} {rss:>12.0f} "
            f"{r['load_avg_1m']:>5.2f}"
        )
    print(f"scaling, {n} workers / 1 worker:")
    for name, ratio in results["scaling"].items():
        print(f"  {name:<36} {ratio:.2f}x")
    memory = results.get("memory")
    if memory:
        text_ratio = memory["long_300"]["peak_rss_mb"] / memory["long_3"]["peak_rss_mb"]
        layout_ratio = memory["layout_30"]["peak_rss_mb"] / memory["layout_3"]["peak_rss_mb"]
        print(f"peak RSS 300 / 3 text pages = {text_ratio:.2f} (target <= 1.5)")
        print(f"peak RSS 30 / 3 layout pages = {layout_ratio:.2f}")
        for name, r in memory.items():
            print(
                f"  {name:<10} {r['pages']:>4} pages {r['pages_per_s']:>7.2f} p/s {r['peak_rss_mb']:>7.0f} MB"
            )


if __name__ == "__main__":
    main()
