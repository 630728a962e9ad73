"""The escalation client's release against the real vlm-serve (tiny model, CPU): a server without a lease
of its own is asked to unload after the leased batch; a server that takes the lease itself is left to its
own per-batch lease, and the client does not hold the lease the server is waiting for."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from vlm_server_helpers import Hooks, settings_for, start_server

from tierocr.config import GpuSettings, Settings
from tierocr.document import Page, Tier
from tierocr.escalation import escalate_pages_async
from tierocr.gpu import create_lease
from tierocr.gpu.release import RELEASED, read_record, record_path
from tierocr.vlm_server.gpu_lease import build_app
from tierocr.vlm_server.testing import serve_in_thread


def _client_settings(url: str, gpu: GpuSettings, model: Path) -> Settings:
    vlm: dict[str, Any] = {
        "url": url + "/v1",
        "model": str(model),
        "profile": "paddleocr-vl",
        "escalate": "always",
        "max_tokens": 4,
        "retries": 0,
        "use_lease": True,
        "release_timeout_s": 30.0,
    }
    return Settings(vlm=vlm, gpu=gpu.model_dump())


def _pages(n: int) -> list[tuple[Page, Image.Image]]:
    out = []
    for i in range(1, n + 1):
        image = Image.new("RGB", (96, 40), "white")
        ImageDraw.Draw(image).text((4, 4), f"Total {i}", fill="black")
        out.append((Page(number=i, width=96, height=40, dpi=72, tier=Tier.OCR), image))
    return out


def test_vlmsrv_is_asked_to_unload_after_a_leased_batch(tiny_model: Path, tmp_path: Path) -> None:
    gpu = GpuSettings(lock_dir=tmp_path / "locks", lease="unloadtest", acquire_timeout_s=30)
    hooks = Hooks()
    running, stop = start_server(settings_for(tiny_model, idle_unload_s=0), hooks)
    try:
        settings = _client_settings(running.url, gpu, tiny_model)
        lease = create_lease(None, gpu)
        out = asyncio.run(escalate_pages_async(_pages(2), settings, lease=lease))
        with running.client() as c:
            health = c.get("/health").json()
    finally:
        stop()
    assert len(out) == 2
    assert health["gpu_lease"] is None and health["model_loaded"] is False
    assert health["loads"] == 1 and health["unloads"] == 1 and hooks.closed.is_set()
    record = read_record(record_path(gpu))
    assert record is not None and record.backend == "tierocr" and record.status == RELEASED
    assert record.action == "POST /unload" and "model_loaded=False" in record.detail


def test_client_stays_out_of_the_lease_vlmsrv_takes_itself(tiny_model: Path, tmp_path: Path) -> None:
    gpu = GpuSettings(lock_dir=tmp_path / "locks", lease="ownlease", acquire_timeout_s=20)
    app, server_lease = build_app(settings_for(tiny_model, use_lease="always"), gpu, loader=Hooks().loader)
    assert server_lease is not None
    url, stop = serve_in_thread(app)
    try:
        settings = _client_settings(url, gpu, tiny_model)
        lease = create_lease(None, gpu)
        out = asyncio.run(escalate_pages_async(_pages(2), settings, lease=lease))
        health, _ = app.state.server.health()
    finally:
        stop()
        server_lease.close()
    # Had the client held "ownlease" around its requests, the server would have waited for it until
    # acquire_timeout_s and answered 503: the pages would be classical, marked as failed.
    assert not any(e.stage == "vlm" and "503" in e.message for p in out for e in p.errors)
    assert health["gpu_lease"] == "ownlease" and health["unload_after_batch"] is True
    assert health["model_loaded"] is False and health["unloads"] >= 1
    assert read_record(record_path(gpu)) is None  # the server's own lease did the work, not the client's
