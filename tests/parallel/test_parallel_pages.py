"""Pages in parallel: the same output as one page at a time, every core used, memory bounded, Ctrl-C.

Concurrency is proven without timing: an engine that lets no page through until two pages are in it at
once only passes when two pages really are read together.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from tierocr.config import Settings
from tierocr.document import BBox
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.inputs import pdf as pdf_input
from tierocr.parallel import DocumentDone, DocumentFailed, DocumentStarted, PageDone, RunEvent, Source
from tierocr.pipeline import Pipeline
from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, render_page, scan_of, text_pdf


class MeetingEngine(OcrEngine):
    """No page leaves ``recognize`` until ``parties`` pages have been inside it at the same time (then
    every page passes): a pipeline reading one page at a time times out here instead of passing."""

    name = "meeting"

    def __init__(self, parties: int = 2) -> None:
        self._parties = parties
        self._inside = 0
        self._lock = threading.Lock()
        self.met = threading.Event()
        self.calls = 0

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        with self._lock:
            self._inside += 1
            self.calls += 1
            if self._inside >= self._parties:
                self.met.set()
        try:
            if not self.met.wait(60):
                raise TimeoutError("pages were read one at a time")
        finally:
            with self._lock:
                self._inside -= 1
        return [OcrLine(f"page of {image.width} px", BBox(x0=10, y0=10, x1=200, y1=30), 0.95)]


def _plain(settings: Settings, **pipeline: Any) -> Settings:
    """Full-page mode, no orientation or deskew: what these tests exercise is the page machinery."""
    return settings.model_copy(
        update={
            "layout": settings.layout.model_copy(update={"enabled": False}),
            "ocr": settings.ocr.model_copy(update={"fix_rotation": False, "deskew": False}),
            "pipeline": settings.pipeline.model_copy(update=pipeline),
        }
    )


def _blank_pages(count: int) -> bytes:
    pages = []
    for n in range(count):
        image = Image.new("RGB", (400, 300), "white")
        ImageDraw.Draw(image).text((20, 20), f"page {n + 1}", fill="black")
        pages.append(image)
    return image_pdf(pages, dpi=100)


def _canonical(events: list[RunEvent]) -> list[Any]:
    """The run as data, without the timings (the one thing allowed to differ)."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, PageDone):
            page = json.loads(event.page.model_dump_json())
            page["timings"] = {}
            out.append(("page", event.index, page))
        elif isinstance(event, DocumentStarted | DocumentDone):
            out.append((type(event).__name__, event.index, event.document.model_dump_json()))
        else:
            assert isinstance(event, DocumentFailed)
            out.append(("failed", event.index, str(event.error)))
    return out


@pytest.fixture(scope="module")
def mixed_sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A born-digital two-column document, a corrupt file, and scans (one upright, one sideways)."""
    root = tmp_path_factory.mktemp("mixed")
    digital = root / "digital.pdf"
    digital.write_bytes(text_pdf([list(PARAGRAPHS) * 2] * 3, title="Parallel pages", columns=2))
    corrupt = root / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.4\nnot really a pdf")
    strip = render_page(text_pdf([[PARAGRAPHS[0]]], footer=False), dpi=150).crop((0, 0, 1275, 500))
    sideways = scan_of(strip).rotate(90, expand=True, fillcolor="white")
    scans = root / "scans.pdf"
    scans.write_bytes(image_pdf([scan_of(strip), sideways], dpi=150))
    return [digital, corrupt, scans]


def _run(settings: Settings, sources: list[Path]) -> list[Any]:
    pipeline = Pipeline(settings)
    try:
        return _canonical(list(pipeline.run([Source(path) for path in sources])))
    finally:
        pipeline.close()


def test_parallel_runs_give_the_sequential_output_byte_for_byte(
    settings: Settings, mixed_sources: list[Path]
) -> None:
    """Real models, layout mode, a rotated scan and a bad input among the documents."""
    sequential = _run(
        settings.model_copy(update={"pipeline": settings.pipeline.model_copy(update={"workers": 1})}),
        mixed_sources,
    )
    kinds = [item[0] for item in sequential]
    assert kinds == [
        "DocumentStarted", "page", "page", "page", "DocumentDone",
        "failed",
        "DocumentStarted", "page", "page", "DocumentDone",
    ]  # fmt: skip
    assert sequential[-2][2]["rotation"] == 90  # the sideways scan was turned upright
    for backend in ("thread", "process"):
        update = {"workers": 2, "backend": backend}
        parallel = _run(
            settings.model_copy(update={"pipeline": settings.pipeline.model_copy(update=update)}),
            mixed_sources,
        )
        assert parallel == sequential, backend


def test_pages_of_one_document_are_read_at_the_same_time(settings: Settings) -> None:
    engine = MeetingEngine(parties=2)
    pipeline = Pipeline(_plain(settings, workers=2), engine=engine)
    doc = pipeline.parse(_blank_pages(4))
    assert [p.number for p in doc.pages] == [1, 2, 3, 4]
    assert engine.met.is_set() and engine.calls == 4


def test_the_next_document_is_read_while_the_last_pages_of_the_one_before_are(settings: Settings) -> None:
    engine = MeetingEngine(parties=2)
    pipeline = Pipeline(_plain(settings, workers=2), engine=engine)
    events = list(pipeline.run([Source(_blank_pages(1), name="a"), Source(_blank_pages(1), name="b")]))
    assert [(type(e).__name__, e.index) for e in events] == [
        ("DocumentStarted", 0), ("PageDone", 0), ("DocumentDone", 0),
        ("DocumentStarted", 1), ("PageDone", 1), ("DocumentDone", 1),
    ]  # fmt: skip
    assert engine.met.is_set()  # the one page of each document was in the engine at once


@pytest.fixture
def live_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts PDF pages that exist and are not yet released, and the most there ever were."""
    count = {"live": 0, "peak": 0, "made": 0}
    lock = threading.Lock()
    alive: set[int] = set()
    init, release = pdf_input.PdfPageInput.__init__, pdf_input.PdfPageInput.release

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        with lock:
            alive.add(id(self))
            count["made"] += 1
            count["live"] = len(alive)
            count["peak"] = max(count["peak"], count["live"])

    def counting_release(self: Any) -> None:
        with lock:
            alive.discard(id(self))
            count["live"] = len(alive)
        release(self)

    monkeypatch.setattr(pdf_input.PdfPageInput, "__init__", counting_init)
    monkeypatch.setattr(pdf_input.PdfPageInput, "release", counting_release)
    yield count


def test_memory_is_bounded_by_pages_in_flight_not_by_length(
    settings: Settings, live_pages: dict[str, int]
) -> None:
    pipeline = Pipeline(_plain(settings, workers=2, max_pages_in_flight=3), engine=MeetingEngine(1))
    numbers = [page.number for page in pipeline.iter_pages(_blank_pages(40))]
    assert numbers == list(range(1, 41))
    assert live_pages["made"] == 40
    assert live_pages["peak"] <= 3  # read ahead to keep the workers busy, never more than the bound
    assert live_pages["live"] == 0


def test_worker_processes_hold_no_more_pages_than_the_bound(tmp_path: Path, settings: Settings) -> None:
    source = tmp_path / "long.pdf"
    source.write_bytes(text_pdf([[PARAGRAPHS[n % 3]] for n in range(24)]))
    pipeline = Pipeline(_plain(settings, workers=2, backend="process", max_pages_in_flight=3))
    pool = pipeline.processes()
    submit, in_flight, peak = pool.submit, [0], [0]

    def counting_submit(job: Any) -> Any:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        return submit(job)

    pool.submit = counting_submit  # type: ignore[method-assign]
    try:
        pages = []
        for page in pipeline.iter_pages(source):
            in_flight[0] -= 1
            pages.append(page)
    finally:
        pipeline.close()
    assert [p.number for p in pages] == list(range(1, 25))
    assert all(PARAGRAPHS[(p.number - 1) % 3][:40] in p.text for p in pages)
    assert peak[0] == 3


def test_ctrl_c_stops_the_run_and_frees_every_page(
    settings: Settings, live_pages: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Interrupting(OcrEngine):
        name = "interrupting"

        def __init__(self) -> None:
            self.sent = threading.Event()
            self.lock = threading.Lock()

        def recognize(self, image: Image.Image) -> list[OcrLine]:
            with self.lock:
                if not self.sent.is_set():  # one Ctrl-C, while the main thread waits for pages
                    self.sent.set()
                    os.kill(os.getpid(), signal.SIGINT)
            return []

    closed: list[str] = []
    close = pdf_input.PdfDocument.close
    monkeypatch.setattr(pdf_input.PdfDocument, "close", lambda self: (closed.append(self.name), close(self)))
    pipeline = Pipeline(_plain(settings, workers=2), engine=Interrupting())
    delivered = []
    with pytest.raises(KeyboardInterrupt):
        for event in pipeline.run(
            [Source(_blank_pages(30), name="long"), Source(_blank_pages(3), name="next")]
        ):
            delivered.append(event)
    assert sum(isinstance(e, PageDone) for e in delivered) < 30  # stopped, not run to the end
    assert live_pages["live"] == 0  # pages in work were waited for and released
    assert "long" in closed
    assert not [t for t in threading.enumerate() if t.name.startswith("tierocr-page")]


def test_cli_reports_an_interrupted_run_with_status_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierocr import parse_command
    from tierocr.cli import app

    class Stopping(Pipeline):
        def run(self, sources: Any) -> Any:
            for event in super().run(sources):
                yield event
                if isinstance(event, DocumentDone):
                    raise KeyboardInterrupt

    monkeypatch.setattr(parse_command, "Pipeline", Stopping)
    inputs = []
    for n in range(3):
        path = tmp_path / f"doc{n}.pdf"
        path.write_bytes(text_pdf([[PARAGRAPHS[n]]]))
        inputs.append(str(path))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["parse", *inputs, "-o", str(out), "--no-layout", "--workers", "2"])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["doc0.md"]  # whole outputs only, no temporary files


def test_a_run_on_worker_processes_stopped_early_returns_at_once(tmp_path: Path, settings: Settings) -> None:
    """Pages sent to worker processes and not yet back are cancelled, not waited for forever."""
    source = tmp_path / "long.pdf"
    source.write_bytes(text_pdf([[PARAGRAPHS[n % 3]] for n in range(30)]))
    pipeline = Pipeline(_plain(settings, workers=2, backend="process", max_pages_in_flight=8))
    events = pipeline.run([Source(source)])
    first_page = next(e for e in events if isinstance(e, PageDone))
    stopper = threading.Thread(target=events.close)
    stopper.start()
    stopper.join(60)
    alive = stopper.is_alive()
    pipeline.close(wait=False)
    assert not alive, "stopping the run waited for pages the workers will never send"
    assert first_page.page.number == 1
