"""The same page tasks on a local Ray cluster (two CPUs, started here): the local run's outputs, and a run
that moves between local workers and Ray resumes from the same store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import write_pdf

from tierocr.batch.local import LocalWorkers
from tierocr.batch.plan import new_documents
from tierocr.batch.runner import BatchRunner, RunEvent
from tierocr.batch.schema import DocStatus, PageStatus
from tierocr.batch.store import PageStore
from tierocr.config import Settings

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    # One GPU declared (none is needed to schedule on it): the escalation actor's path is taken.
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def fast(settings: Settings) -> Settings:
    settings.layout.enabled = False
    settings.ocr.fix_rotation = False
    return settings


def _files(root: Path) -> list[Path]:
    return [write_pdf(root / "memo.pdf", 3, "Memo"), write_pdf(root / "minutes.pdf", 4, "Minutes")]


def _run(store: PageStore, settings: Settings, backend: Any, out: Path, **kw: Any) -> BatchRunner:
    runner = BatchRunner(store, settings, lambda: backend, run_id="run", output=out, **kw)
    runner.run()
    return runner


def _outputs(out: Path) -> dict[str, Any]:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "timings"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return {
        name: (
            (out / f"{name}.md").read_bytes(),
            strip(json.loads((out / f"{name}.json").read_text("utf-8"))),
        )
        for name in ("memo", "minutes")
    }


def test_ray_run_matches_the_local_run_and_a_run_moves_between_them(
    cluster: None, fast: Settings, tmp_path: Path
) -> None:
    from tierocr.batch.ray_backend import RayWorkers

    files = _files(tmp_path / "in")
    local_store = PageStore(str(tmp_path / "local.sqlite3"))
    local_store.add_documents("run", new_documents("run", files, tmp_path / "in", {}, {}))
    _run(local_store, fast, LocalWorkers(fast, 1), tmp_path / "local")

    ray_store = PageStore(str(tmp_path / "ray.sqlite3"))
    ray_store.add_documents("run", new_documents("run", files, tmp_path / "in", {}, {}))
    workers = RayWorkers(fast, "auto", workers=2)
    assert workers.label == "2 Ray actor(s), escalation from this process"  # no VLM configured
    runner = _run(ray_store, fast, workers, tmp_path / "ray")
    assert runner.stats.pages_done == 7 and all(rss > 0 for rss in runner.stats.peak_rss)
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local")

    # start locally, stop after three pages, resume on Ray: the same store, the same outputs
    moved = PageStore(str(tmp_path / "moved.sqlite3"))
    moved.add_documents("run", new_documents("run", files, tmp_path / "in", {}, {}))
    first: BatchRunner | None = None

    def stop_after_three(event: RunEvent) -> None:
        if event.kind == "page" and first is not None and first.stats.pages_done == 3:
            first.request_stop()

    first = BatchRunner(
        moved,
        fast,
        lambda: LocalWorkers(fast, 1),
        run_id="run",
        output=tmp_path / "moved",
        on_event=stop_after_three,
    )
    first.run()
    done_locally = sum(len(moved.pages(d.id, [PageStatus.DONE])) for d in moved.documents("run"))
    assert 3 <= done_locally < 7
    _run(moved, fast, RayWorkers(fast, "auto", workers=2), tmp_path / "moved")
    assert [d.status for d in moved.documents("run")] == [DocStatus.SUCCEEDED] * 2
    attempts = [p.attempts for d in moved.documents("run") for p in moved.pages(d.id)]
    assert attempts == [1] * 7  # a clean stop gives unread pages back: nothing read twice
    assert _outputs(tmp_path / "moved") == _outputs(tmp_path / "local")
    for store in (local_store, ray_store, moved):
        store.close()


def test_on_a_cluster_with_a_gpu_escalation_windows_run_in_the_gpu_actor(
    cluster: None, fast: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierocr.batch.ray_backend import RayWorkers

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "escalation"))
    from fake_vlm import FakeVlm

    files = _files(tmp_path / "in")
    store = PageStore(str(tmp_path / "store.sqlite3"))
    store.add_documents("run", new_documents("run", files, tmp_path / "in", {}, {}))
    with FakeVlm(latency=0.05) as fake:
        fast.vlm.url = fake.url
        fast.vlm.escalate = "always"
        fast.vlm.max_concurrency = 3
        workers = RayWorkers(fast, "auto", workers=2)
        assert workers.label == "2 Ray actor(s), escalation on GPU"
        _run(store, fast, workers, tmp_path / "out")
    assert len(fake.requests) == 7 and fake.max_in_flight <= 3  # one window at a time, however many actors
    for name in ("memo", "minutes"):
        doc = json.loads((tmp_path / "out" / f"{name}.json").read_text("utf-8"))
        assert {p["tier"] for p in doc["pages"]} == {"vlm"}
    store.close()
