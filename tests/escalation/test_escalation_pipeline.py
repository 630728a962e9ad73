"""The pipeline's use of the gate and the VLM tier, over real HTTP against the fault-injecting server."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_vlm import FakeVlm, closed_port, status
from PIL import Image
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.config import Settings
from tierocr.document import Tier
from tierocr.pipeline import Pipeline
from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, render_page, text_pdf


def _with_vlm(settings: Settings, url: str, escalate: str) -> Settings:
    vlm = settings.vlm.model_copy(
        update={"url": url, "escalate": escalate, "retries": 0, "backoff_base": 0.0}
    )
    return settings.model_copy(update={"vlm": vlm})


def test_gate_verdict_is_recorded_without_a_vlm(settings: Settings) -> None:
    doc = Pipeline(settings).parse(text_pdf([[PARAGRAPHS[0]]]))
    page = doc.pages[0]
    assert page.tier is Tier.TEXT_LAYER and page.quality is not None and page.quality.accepted


def test_always_sends_every_page_and_keeps_the_verdict(settings: Settings) -> None:
    with FakeVlm() as fake:
        pipeline = Pipeline(_with_vlm(settings, fake.url, "always"))
        doc = pipeline.parse(text_pdf([[PARAGRAPHS[0]], [PARAGRAPHS[1]]]))
    assert [p.tier for p in doc.pages] == [Tier.VLM, Tier.VLM]
    assert len(fake.requests) == 2
    assert all(p.quality is not None for p in doc.pages)
    assert "Quarterly report" in doc.pages[0].text


def test_auto_sends_only_rejected_pages(settings: Settings) -> None:
    blank_with_ink = Image.new("RGB", (800, 1000), "white")
    blank_with_ink.paste((0, 0, 0), (100, 100, 700, 900))  # all ink, no text: the gate must reject it
    good = render_page(text_pdf([[PARAGRAPHS[2]]], footer=False), dpi=100)
    with FakeVlm() as fake:
        doc = Pipeline(_with_vlm(settings, fake.url, "auto")).parse(
            image_pdf([good, blank_with_ink], dpi=100)
        )
    assert doc.pages[0].tier is Tier.OCR and doc.pages[0].quality.accepted
    assert doc.pages[1].quality is not None and not doc.pages[1].quality.accepted
    assert doc.pages[1].tier is Tier.VLM
    assert len(fake.requests) == 1


def test_failed_escalation_keeps_the_classical_page(settings: Settings) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    doc = Pipeline(_with_vlm(settings, url, "always")).parse(text_pdf([[PARAGRAPHS[0]]]))
    page = doc.pages[0]
    assert page.tier is Tier.TEXT_LAYER and "cheapest path" in page.text
    assert page.errors and page.errors[0].stage == "vlm"
    assert "classical result kept" in (page.tier_reason or "")


def test_cli_escalate_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "doc.pdf"
    src.write_bytes(text_pdf([[PARAGRAPHS[0]]]))
    with FakeVlm() as fake:
        fake.script(status(500))
        monkeypatch.setenv("TIEROCR_VLM_URL", fake.url)
        monkeypatch.setenv("TIEROCR_VLM_RETRIES", "1")
        monkeypatch.setenv("TIEROCR_VLM_BACKOFF_BASE", "0")
        result = CliRunner().invoke(
            app, ["parse", str(src), "--escalate", "always", "-o", str(tmp_path / "o"), "--format", "json"]
        )
        never = CliRunner().invoke(app, ["parse", str(src), "--escalate", "never"])
    assert result.exit_code == 0, result.output
    assert '"tier": "vlm"' in (tmp_path / "o" / "doc.json").read_text()
    assert len(fake.requests) == 2  # one 500, one retry that succeeded; the `never` run sent nothing
    assert never.exit_code == 0 and "cheapest path" in never.stdout


def _leased(settings: Settings, url: str, tmp_path: Path, timeout: float) -> Settings:
    s = _with_vlm(settings, url, "always")
    gpu = s.gpu.model_copy(update={"lock_dir": tmp_path / "locks", "acquire_timeout_s": timeout})
    return s.model_copy(update={"vlm": s.vlm.model_copy(update={"use_lease": True}), "gpu": gpu})


def test_escalation_waits_for_the_gpu_lease(settings: Settings, tmp_path: Path) -> None:
    from tierocr.gpu import create_lease

    with FakeVlm() as fake:
        leased = _leased(settings, fake.url, tmp_path, timeout=0.5)
        with create_lease(None, leased.gpu).acquire():  # the LLM holds the card
            blocked = Pipeline(leased).parse(text_pdf([[PARAGRAPHS[0]]]))
        assert fake.requests == []  # nothing reached the VLM while the lease was taken
        freed = Pipeline(leased).parse(text_pdf([[PARAGRAPHS[0]]]))
    assert blocked.pages[0].tier is Tier.TEXT_LAYER and blocked.pages[0].errors[0].stage == "vlm"
    assert freed.pages[0].tier is Tier.VLM and len(fake.requests) == 1


def test_cli_failed_escalation_is_a_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "doc.pdf"
    src.write_bytes(text_pdf([[PARAGRAPHS[0]]]))
    monkeypatch.setenv("TIEROCR_VLM_URL", f"http://127.0.0.1:{closed_port()}/v1")
    monkeypatch.setenv("TIEROCR_VLM_RETRIES", "0")
    result = CliRunner().invoke(app, ["parse", str(src), "--escalate", "always"])
    assert result.exit_code == 0, result.output
    assert "cheapest path" in result.stdout
    assert "warning:" in result.stderr and "error:" not in result.stderr
