"""20 document requests at once: all answered, each its own document, bounded parallelism and memory."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from server_helpers import FakePipeline, LiveServer, pdf_bytes

from tierocr.config import Settings

REQUESTS = 20


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def test_twenty_concurrent_documents(settings: Settings, start_server: Callable[..., LiveServer]) -> None:
    settings.server.workers = 2
    fake = FakePipeline(page_count=4)
    server = start_server(settings, pipeline_factory=fake.factory)
    # Each upload is ~1 MiB, so buffering every request's body whole at once would show in the peak.
    payload = pdf_bytes(1) + b"%" + b"0" * (1024 * 1024)

    async def one(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.post(
            "/api/ocr/document", files={"file": (f"doc-{n}.pdf", payload)}, data={"format": "json"}
        )

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=REQUESTS)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            return await asyncio.gather(*(one(client, n) for n in range(REQUESTS)))

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
    before = _status_kib("VmRSS")
    responses = asyncio.run(run())
    peak_growth_mib = (_status_kib("VmHWM") - before) / 1024

    assert [r.status_code for r in responses] == [200] * REQUESTS
    assert sorted(r.json()["source"] for r in responses) == sorted(f"doc-{n}.pdf" for n in range(REQUESTS))
    assert all(len(r.json()["document"]["pages"]) == 4 for r in responses)
    assert fake.max_active <= settings.server.workers
    assert fake.pages_made == 4 * REQUESTS
    # 20 MiB of uploads plus the server's own copies: well under this, unless work runs unbounded.
    assert peak_growth_mib < 256, f"peak RSS grew by {peak_growth_mib:.0f} MiB"
