"""Local worker processes and one shared escalation window, over real HTTP against the fake VLM server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_helpers import write_pdf

from tierocr.batch.local import LocalWorkers
from tierocr.batch.plan import new_documents
from tierocr.batch.runner import BatchRunner
from tierocr.batch.store import PageStore
from tierocr.config import Settings


def test_two_workers_send_their_rejected_pages_through_one_window(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "escalation"))
    from fake_vlm import FakeVlm

    settings.layout.enabled = False
    settings.ocr.fix_rotation = False
    files = [write_pdf(tmp_path / "in" / "a.pdf", 4, "A"), write_pdf(tmp_path / "in" / "b.pdf", 3, "B")]
    store = PageStore(str(tmp_path / "store.sqlite3"))
    store.add_documents("run", new_documents("run", files, tmp_path / "in", {}, {}))
    with FakeVlm(latency=0.05) as fake:
        settings.vlm.url = fake.url
        settings.vlm.escalate = "always"
        settings.vlm.max_concurrency = 3
        runner = BatchRunner(
            store, settings, lambda: LocalWorkers(settings, 2), run_id="run", output=tmp_path / "out"
        )
        stats = runner.run()
    assert stats.pages_done == 7
    # the page images crossed from the workers to the coordinator; the VLM saw at most one window
    assert len(fake.requests) == 7 and fake.max_in_flight <= 3
    for name in ("a", "b"):
        doc = json.loads((tmp_path / "out" / f"{name}.json").read_text(encoding="utf-8"))
        assert {p["tier"] for p in doc["pages"]} == {"vlm"}
        assert all("Quarterly report" in p["blocks"][0]["text"] for p in doc["pages"])
    summary = store.page_summary([d.id for d in store.documents("run")])
    assert summary["escalated"] == 7 and summary["tiers"] == {"vlm": 7}
    store.close()
