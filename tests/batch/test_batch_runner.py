"""The coordinator in-process: real documents and the real page step; the workers are an inline fake."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import write_pdf, write_poisoned_pdf
from PIL import Image

from tierocr.batch.plan import new_documents
from tierocr.batch.runner import BatchRunner, RunEvent
from tierocr.batch.schema import DocStatus, PageStatus
from tierocr.batch.store import PageStore
from tierocr.batch.work import PageResult, PageTask, read_page
from tierocr.config import Settings
from tierocr.document import Page, Tier
from tierocr.pipeline import Pipeline
from tierocr.render.json import render_json
from tierocr.render.markdown import render_markdown


class InlineBackend:
    """Reads each page when it is submitted, in this thread; records the escalation windows."""

    def __init__(self, read: Callable[[PageTask], PageResult], capacity: int = 4) -> None:
        self.read = read
        self.capacity = capacity
        self.label = "inline"
        self.windows: list[list[tuple[int, int]]] = []
        self.closed = False

    def submit(self, task: PageTask) -> Future[PageResult]:
        future: Future[PageResult] = Future()
        try:
            future.set_result(self.read(task))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def escalate(self, items: list[PageResult]) -> Future[list[Page]]:
        self.windows.append([(image.width if image else 0, page.number) for page, image in items])
        future: Future[list[Page]] = Future()
        future.set_result([page.model_copy(update={"tier": Tier.VLM}) for page, _ in items])
        return future

    def peak_rss(self) -> list[int]:
        return []

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fast(settings: Settings) -> Settings:
    settings.layout.enabled = False
    settings.ocr.fix_rotation = False
    settings.batch.backoff_s = 0.0
    return settings


def _queue(store: PageStore, files: list[Path], base: Path) -> None:
    store.add_documents("run", new_documents("run", files, base, {}, {"pages": None}))


def _runner(
    store: PageStore, settings: Settings, backend: InlineBackend, out: Path, **kw: Any
) -> BatchRunner:
    return BatchRunner(store, settings, lambda: backend, run_id="run", output=out, fmt="both", **kw)


def _strip_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k != "timings"}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


def test_outputs_are_parse_outputs_assembled_from_the_store(fast: Settings, tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "in" / "report.pdf", 3, "Quarterly report")
    store = PageStore(str(tmp_path / "store.sqlite3"))
    _queue(store, [pdf], tmp_path / "in")
    pipeline = Pipeline(fast)
    backend = InlineBackend(lambda task: read_page(pipeline, task))
    stats = _runner(store, fast, backend, tmp_path / "out").run()
    assert stats.pages_done == 3 and backend.closed
    parsed = Pipeline(fast).parse(pdf, name=str(pdf))
    assert (tmp_path / "out" / "report.md").read_text(encoding="utf-8") == render_markdown(
        parsed, fast.render
    )
    written = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert _strip_timings(written) == _strip_timings(json.loads(render_json(parsed)))
    store.close()


def test_a_poisoned_page_is_dead_lettered_and_its_document_completes(fast: Settings, tmp_path: Path) -> None:
    fast.input.max_image_pixels = 10_000_000  # the 40-inch page renders to 16 Mpx: never readable
    fast.batch.retries = 2
    poisoned = write_poisoned_pdf(tmp_path / "in" / "poisoned.pdf", 4, poisoned=3)
    healthy = write_pdf(tmp_path / "in" / "healthy.pdf", 2, "Healthy")
    store = PageStore(str(tmp_path / "store.sqlite3"))
    _queue(store, [healthy, poisoned], tmp_path / "in")
    pipeline = Pipeline(fast)
    tries: list[tuple[str, int]] = []

    def read(task: PageTask) -> PageResult:
        tries.append((Path(task.path).name, task.number))
        return read_page(pipeline, task)

    events: list[RunEvent] = []
    stats = _runner(store, fast, InlineBackend(read), tmp_path / "out", on_event=events.append).run()
    assert tries.count(("poisoned.pdf", 3)) == 3  # the first try and two retries
    assert stats.pages_dead == 1 and stats.retries == 2 and stats.pages_done == 5
    docs = {d.name.rsplit("/", 1)[-1]: d for d in store.documents("run")}
    assert docs["poisoned.pdf"].status is DocStatus.SUCCEEDED and docs["poisoned.pdf"].pages_dead == 1
    assert docs["healthy.pdf"].status is DocStatus.SUCCEEDED and docs["healthy.pdf"].pages_dead == 0
    dead = store.pages(docs["poisoned.pdf"].id, [PageStatus.DEAD])
    assert [(p.number, p.attempts) for p in dead] == [(3, 3)]
    assert "over the limit of 10000000 pixels" in (dead[0].error or "")
    written = json.loads((tmp_path / "out" / "poisoned.json").read_text(encoding="utf-8"))
    assert [p["number"] for p in written["pages"]] == [1, 2, 3, 4]
    assert "over the limit" in written["pages"][2]["errors"][0]["message"]
    assert "Poisoned document, page 4" in (tmp_path / "out" / "poisoned.md").read_text(encoding="utf-8")
    assert any(e.kind == "page" and e.status == PageStatus.DEAD and e.number == 3 for e in events)
    store.close()


def test_a_failed_page_waits_its_backoff_and_a_later_run_picks_it_up(fast: Settings, tmp_path: Path) -> None:
    fast.batch.backoff_s = 60.0  # far beyond this test: the first run must stop, not wait it out
    pdf = write_pdf(tmp_path / "in" / "flaky.pdf", 3, "Flaky")
    store = PageStore(str(tmp_path / "store.sqlite3"))
    _queue(store, [pdf], tmp_path / "in")
    pipeline = Pipeline(fast)
    runner: BatchRunner | None = None

    def flaky(task: PageTask) -> PageResult:
        if task.number == 2:
            assert runner is not None
            runner.request_stop()  # a Ctrl-C while the page fails: what was read is kept
            raise ConnectionResetError("worker connection lost")
        return read_page(pipeline, task)

    runner = _runner(store, fast, InlineBackend(flaky), tmp_path / "out")
    started = time.time()
    stats = runner.run()
    assert (stats.pages_done, stats.retries) == (1, 1)
    assert not (tmp_path / "out" / "flaky.md").exists()
    doc_id = store.documents("run")[0].id
    rows = store.pages(doc_id)
    assert [(p.status, p.attempts) for p in rows] == [
        (PageStatus.DONE, 1),
        (PageStatus.PENDING, 1),
        (PageStatus.PENDING, 0),
    ]
    assert rows[1].error == "ConnectionResetError: worker connection lost"
    assert rows[1].not_before >= started + 60  # the first retry waits backoff_s
    _release_backoff(store, doc_id)  # as if the back-off had passed
    second = _runner(store, fast, InlineBackend(lambda task: read_page(pipeline, task)), tmp_path / "out")
    assert second.run().pages_done == 2
    assert [(p.status, p.attempts) for p in store.pages(doc_id)] == [
        (PageStatus.DONE, 1),
        (PageStatus.DONE, 2),
        (PageStatus.DONE, 1),
    ]
    assert "Flaky, page 2." in (tmp_path / "out" / "flaky.md").read_text(encoding="utf-8")
    store.close()


def _release_backoff(store: PageStore, doc_id: str) -> None:
    from sqlalchemy import update

    from tierocr.batch.schema import pages

    with store.engine.begin() as conn:
        conn.execute(update(pages).where(pages.c.doc_id == doc_id).values(not_before=0.0))


def test_workers_share_one_escalation_window(fast: Settings, tmp_path: Path) -> None:
    fast.vlm.url = "http://127.0.0.1:9/v1"
    fast.vlm.escalate = "always"
    fast.vlm.max_concurrency = 3
    files = [write_pdf(tmp_path / "in" / "a.pdf", 4, "A"), write_pdf(tmp_path / "in" / "b.pdf", 3, "B")]
    store = PageStore(str(tmp_path / "store.sqlite3"))
    _queue(store, files, tmp_path / "in")
    pipeline = Pipeline(fast.model_copy(update={"vlm": fast.vlm.model_copy(update={"url": None})}))

    def read(task: PageTask) -> PageResult:
        page, _ = read_page(pipeline, task)
        side = 8 if task.path.endswith("a.pdf") else 9  # the image says which document it is from
        return page, Image.new("RGB", (side, side), "white")

    backend = InlineBackend(read, capacity=8)
    _runner(store, fast, backend, tmp_path / "out").run()
    assert sum(len(w) for w in backend.windows) == 7
    assert max(len(w) for w in backend.windows) <= 3
    assert backend.windows == [[(8, 1), (8, 2), (8, 3)], [(8, 4), (9, 1), (9, 2)], [(9, 3)]]
    for name in ("a", "b"):
        doc = json.loads((tmp_path / "out" / f"{name}.json").read_text(encoding="utf-8"))
        assert {p["tier"] for p in doc["pages"]} == {"vlm"}
    store.close()
