"""Throughput, memory and checkpoint cost of `tierocr batch`.

Scenarios (each a fresh job store in a temporary folder; default settings, layout mode on):
  scanned/local-1   the corpus's scanned pages (manifest content=scanned), 1 local worker process
  scanned/local-2   the same, 2 local worker processes
  scanned/ray-2     the same on a local Ray cluster started here (ray.init(num_cpus=2)), 2 actors
  long/50, long/1000  a generated born-digital PDF of 50 and of 1,000 pages (text layer, full-page mode),
                    1 worker: the worker's peak RSS must not grow with the document

Columns: pages/s over the whole run (worker start and model loading included) and once the first page
is out (steady), peak RSS per worker, store writes per page and the milliseconds each took (the
checkpoint overhead), and the load average (this machine is shared: read the numbers beside it).
Prints a table and writes bench/batch.json. Run: `python bench/batch.py [--skip-ray] [--long 1000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"


def scanned_pages(workdir: Path) -> Path:
    """The corpus's scanned documents, linked into one input folder."""
    folder = workdir / "scanned"
    folder.mkdir()
    rows = (CORPUS / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t")
    for row in rows[1:]:
        record = dict(zip(header, row.split("\t"), strict=False))
        if record.get("content") == "scanned":
            source = CORPUS / record["file"]
            (folder / f"{record['id']}{source.suffix}").symlink_to(source)
    return folder


def long_pdf(workdir: Path, pages: int) -> Path:
    from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

    folder = workdir / f"long-{pages}"
    folder.mkdir()
    path = folder / f"long-{pages}.pdf"
    path.write_bytes(text_pdf([list(PARAGRAPHS) for _ in range(pages)], title="A long document"))
    return folder


def run(name: str, folder: Path, workdir: Path, settings: Any, backend: Callable[[], Any]) -> dict[str, Any]:
    from tierocr.batch.plan import list_inputs, new_documents
    from tierocr.batch.runner import BatchRunner, RunEvent
    from tierocr.batch.store import PageStore

    files, base = list_inputs(folder)
    store = PageStore(str(workdir / f"{name.replace('/', '-')}.sqlite3"))
    store.add_documents("bench", new_documents("bench", files, base, {}, {}))
    finished: list[float] = []

    def on_event(event: RunEvent) -> None:
        if event.kind == "page":
            finished.append(time.perf_counter())

    load = os.getloadavg()[0]
    started = time.perf_counter()
    runner = BatchRunner(
        store, settings, backend, run_id="bench", output=workdir / name.replace("/", "-"), on_event=on_event
    )
    stats = runner.run()
    wall = time.perf_counter() - started
    store.close()
    pages = stats.pages_done + stats.pages_dead
    steady = (len(finished) - 1) / (finished[-1] - finished[0]) if len(finished) > 1 else 0.0
    return {
        "scenario": name,
        "pages": pages,
        "pages_s": round(pages / wall, 3),
        "steady_pages_s": round(steady, 3),
        "peak_rss_mib": [round(x / 2**20) for x in stats.peak_rss],
        "writes_per_page": round(stats.store_writes / pages, 2) if pages else 0,
        "ms_per_write": round(stats.store_seconds / stats.store_writes * 1000, 2)
        if stats.store_writes
        else 0,
        "load_1min": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "dead": stats.pages_dead,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--long", type=int, default=1000, help="Pages of the long document (0: skip).")
    args = parser.parse_args()
    from tierocr.batch.local import LocalWorkers
    from tierocr.config import Settings

    settings = Settings()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scanned = scanned_pages(work)
        for n in (1, 2):
            rows.append(
                run(f"scanned/local-{n}", scanned, work, settings, lambda n=n: LocalWorkers(settings, n))
            )
            print(rows[-1], flush=True)
        if not args.skip_ray:
            import ray

            from tierocr.batch.ray_backend import RayWorkers

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:
                rows.append(
                    run("scanned/ray-2", scanned, work, settings, lambda: RayWorkers(settings, "auto", 2))
                )
                print(rows[-1], flush=True)
            finally:
                ray.shutdown()
        if args.long:
            fast = settings.model_copy(deep=True)
            fast.layout.enabled = False
            for pages in (50, args.long):
                folder = long_pdf(work, pages)
                rows.append(run(f"long/{pages}", folder, work, fast, lambda: LocalWorkers(fast, 1)))
                print(rows[-1], flush=True)
        identical = _same_outputs(work, [r["scenario"] for r in rows if r["scenario"].startswith("scanned/")])
    keys = [
        "scenario",
        "pages",
        "pages_s",
        "steady_pages_s",
        "peak_rss_mib",
        "writes_per_page",
        "ms_per_write",
        "load_1min",
        "load_after",
    ]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    print(f"scanned outputs (Markdown, and JSON without timings) identical across scenarios: {identical}")
    (HERE / "batch.json").write_text(
        json.dumps({"rows": rows, "scanned_outputs_identical": identical}, indent=2)
    )


def _same_outputs(work: Path, scenarios: list[str]) -> bool:
    """Whether every scenario wrote the same documents (what a Ray run must do: the local run's output)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "timings"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    def outputs(folder: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path in sorted(folder.rglob("*")):
            if path.suffix == ".md":
                out[path.name] = path.read_bytes()
            elif path.suffix == ".json":
                out[path.name] = strip(json.loads(path.read_text(encoding="utf-8")))
        return out

    seen = [outputs(work / name.replace("/", "-")) for name in scenarios]
    return all(s == seen[0] for s in seen[1:]) and bool(seen and seen[0])


if __name__ == "__main__":
    main()
