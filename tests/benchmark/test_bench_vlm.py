"""`tierocr bench` and `tierocr compare` against two real `vlm-serve` instances of two architectures.

Tiny random PaddleOCR-VL and GLM-OCR models on the CPU: their answers are noise, so only the mechanics
are checked (every measurement taken, the cold request after a real unload, tokens counted from the
server's usage, reports, charts and diff pages written).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")
pytest.importorskip("matplotlib")

from tierocr.cli import app
from tierocr.config import VlmServerSettings
from tierocr.vlm_server.app import create_app, default_loader
from tierocr.vlm_server.testing import build_tiny_glm_ocr, build_tiny_paddleocr_vl, serve_in_thread

PNG = b"\x89PNG\r\n\x1a\n"
CONFIG = """\
bench:
  throughput_rounds: 1
  throughput_min_requests: 2
  diff_documents: 2
vlm:
  image_max_side: 256
  retries: 0
input:
  dpi: 72
"""


class Loads:
    """Counts model loads: a cold request after a real release loads the model again."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, settings: VlmServerSettings) -> Any:
        self.count += 1
        return default_loader(settings)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, Loads]]]:
    models = tmp_path_factory.mktemp("models")
    built = {
        "paddleocr-vl": build_tiny_paddleocr_vl(models / "tiny-paddleocr-vl"),
        "glm-ocr": build_tiny_glm_ocr(models / "tiny-glm-ocr"),
    }
    running: dict[str, tuple[str, Loads]] = {}
    stops = []
    for profile, model in built.items():
        loads = Loads()
        settings = VlmServerSettings(
            model=str(model),
            device="cpu",
            dtype="float32",
            max_batch_size=4,
            max_wait_ms=20,
            idle_unload_s=0,
            default_max_tokens=8,
            max_tokens_limit=64,
        )
        url, stop = serve_in_thread(create_app(settings, loader=loads))
        running[profile] = (url, loads)
        stops.append(stop)
    yield running
    for stop in stops:
        stop()


def _targets(servers: dict[str, tuple[str, Loads]]) -> list[str]:
    return [f"vlm:{url}/v1?profile={profile}&max_tokens=6" for profile, (url, _) in servers.items()]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_bench_measures_both_endpoints(
    servers: dict[str, tuple[str, Loads]], corpus: Path, images: Path, tmp_path: Path
) -> None:
    for url, _ in servers.values():  # loaded before the run: the cold request must unload it first
        httpx.post(
            f"{url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
            timeout=120,
        ).raise_for_status()
    loads_before = {p: loads.count for p, (_, loads) in servers.items()}
    out = tmp_path / "report"
    args = ["bench", *_targets(servers), "--images", str(images), "--corpus", str(corpus)]
    args += ["--pdf", str(corpus / "docs" / "report.pdf"), "--concurrency", "1,3", "--warm-requests", "2"]
    result = CliRunner().invoke(app, [*args, "-o", str(out), "--config", str(_config(tmp_path))])
    assert result.exit_code == 0, result.output

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [t["model"] for t in report["targets"]] == ["tiny-paddleocr-vl", "tiny-glm-ocr"]
    for target, (profile, (_, loads)) in zip(report["targets"], servers.items(), strict=True):
        assert target["error"] is None and target["request_errors"] == []
        assert target["name"].startswith(profile + "@127.0.0.1-")
        assert "POST /unload -> released" in target["cold_method"]
        assert loads.count == loads_before[profile] + 1  # released, then loaded again by the cold request
        assert target["cold_start_s"] > 0 and target["warm"]["count"] == 2
        assert target["warm_tokens_per_s"] > 0  # vlm-serve reports usage
        levels = [(p["concurrency"], p["requests"], p["errors"]) for p in target["throughput"]]
        assert levels == [(1, 2, 0), (3, 3, 0)]
        assert all(p["images_per_s"] > 0 and p["tokens_per_s"] > 0 for p in target["throughput"])
        assert target["pdf"]["pages"] == 2 and target["pdf"]["error"] is None
        assert target["peak_rss_mb"] is None  # the server's memory is not ours to measure
        assert [r["id"] for r in target["corpus"]] == [
            "docs-invoice",
            "docs-table",
            "docs-report",
            "docs-formula",
        ]
    names = [t["name"] for t in report["targets"]]
    for row in report["rows"]:
        assert sorted(row["results"]) == sorted(names)
        assert all(r["error"] is None for r in row["results"].values())
    for chart in ("latency.png", "throughput.png", "accuracy.png"):
        assert (out / chart).read_bytes().startswith(PNG)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert all(name in markdown for name in names)
    assert "## Throughput (images/s)" in markdown and "tok/s" in markdown


def test_compare_two_endpoints_writes_dimensions_and_diffs(
    servers: dict[str, tuple[str, Loads]], corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "compare"
    summary = tmp_path / "docs" / "compare-a-vs-b.md"
    args = ["compare", *_targets(servers), "--corpus", str(corpus), "--warm-requests", "2"]
    args += ["-o", str(out), "--summary", str(summary), "--config", str(_config(tmp_path))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    names = [t["name"] for t in data["bench"]["targets"]]
    dimensions = {d["dimension"] for d in data["dimensions"]}
    assert {
        "English text",
        "LaTeX formulas",
        "Tables",
        "Digits and identifiers",
        "Speed",
    } <= dimensions
    speed = {d["measure"]: d["values"] for d in data["dimensions"] if d["dimension"] == "Speed"}
    assert all(v is not None and v > 0 for v in speed["images/s at 5 concurrent"].values())
    assert data["bench"]["targets"][0]["throughput"][0]["concurrency"] == 5

    # Random models disagree: the two most different documents get a page each, and an index.
    assert len(data["diffs"]) == 2
    page = (out / data["diffs"][0]["page"]).read_text(encoding="utf-8")
    assert 'src="data:image/jpeg;base64,' in page
    assert all(name in page for name in names)
    assert 'class="only-a"' in page or 'class="only-b"' in page
    assert "http://" not in page and "https://" not in page  # self-contained
    assert (out / "diffs" / "index.html").is_file()

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Dimension by dimension" in report and "](diffs/" in report
    assert (out / "compare.png").read_bytes().startswith(PNG)
    docs = summary.read_text(encoding="utf-8")
    assert "](diffs/" not in docs and "![accuracy per dimension](compare-a-vs-b.png)" in docs
    assert summary.with_suffix(".png").read_bytes().startswith(PNG)

    # The finished run re-rendered with the scorers as they are now: no request is sent again.
    for _, loads in servers.values():
        loads.count = -100  # a load would show
    (out / "report.md").unlink()
    again = CliRunner().invoke(
        app, ["compare", "--from-report", str(out), "--config", str(_config(tmp_path))]
    )
    assert again.exit_code == 0, again.output
    rerendered = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert rerendered["dimensions"] == data["dimensions"]
    assert (out / "report.md").read_text(encoding="utf-8") == report
    assert all(loads.count == -100 for _, loads in servers.values())
