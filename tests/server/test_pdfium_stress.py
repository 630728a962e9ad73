"""The real server under concurrent PDF traffic (requests and jobs at once) stays up.

Before PDFium calls were serialised, this load (200 to 400 requests of a 2-page text PDF, 20 at a time, four
request workers and two job workers) killed the server with SIGSEGV in 3 runs of 3. The server runs in a
child process so that a crash is an exit status the test reads, not the end of pytest.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

SRC = Path(__file__).resolve().parents[2] / "src"
CHILD = Path(__file__).with_name("serve_child.py")
REQUESTS = 400


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env.update(
        PYTHONPATH=str(SRC),
        TIEROCR_DATA_DIR=str(tmp_path / "data"),
        TIEROCR_LAYOUT_ENABLED="false",  # text-layer pages: PDFium work only, no OCR model to load
        TIEROCR_SERVER_WORKERS="4",
        TIEROCR_SERVER_JOB_WORKERS="2",
    )
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(sock.fileno())], pass_fds=[sock.fileno()], env=env
    )
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # Only the child holds the socket now: if it dies, clients are refused at once instead of waiting.
    sock.close()
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(30)


def test_concurrent_pdf_requests_and_jobs_do_not_crash_the_server(
    real_server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = real_server
    pdf = text_pdf([list(PARAGRAPHS), list(PARAGRAPHS[:2])], title="Stress")

    async def one(client: httpx.AsyncClient, i: int) -> tuple[int | str, str | None]:
        route = "/api/jobs" if i % 4 == 0 else "/api/ocr/document"
        try:
            r = await client.post(route, files={"file": (f"d{i}.pdf", pdf)}, data={"format": "json"})
        except httpx.HTTPError as exc:  # a dead server shows as a connection error
            return type(exc).__name__, None
        return r.status_code, r.json().get("id") if r.status_code == 202 else None

    async def run() -> list[tuple[int | str, str | None]]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            answers = await asyncio.gather(*(one(client, i) for i in range(REQUESTS)))
            # Wait for the jobs through the API's own long poll.
            for _, job_id in answers:
                if job_id is not None:
                    try:
                        job = await client.get(f"/api/jobs/{job_id}", params={"wait": 30})
                    except httpx.HTTPError:
                        break  # the server is gone: reported below with its exit status
                    assert job.json()["status"] == "succeeded", job.text
            return answers

    answers = asyncio.run(run())
    assert proc.poll() is None, f"the server died with exit status {proc.returncode}"
    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: REQUESTS * 3 // 4, 202: REQUESTS // 4}
