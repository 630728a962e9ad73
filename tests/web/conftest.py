"""The review page's end-to-end fixtures: `tierocr serve` as a real process, a fake VLM, headless chromium.

The browser is Debian's chromium (`make test` installs it through the Makefile's APT_PACKAGES), driven by
Playwright for Python; Playwright's own browser downloads are never used (this machine has no internet).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from review_helpers import API_KEY, CHROMIUM_NAMES, MAX_UPLOAD, REPO, Served

# the fake OpenAI-compatible VLM lives beside the escalation tests
sys.path.insert(0, str(REPO / "tests" / "escalation"))
from fake_vlm import FakeVlm


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`python -m tierocr.cli serve` on loopback with an API key, a small upload limit and a fake VLM."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    with FakeVlm() as vlm:
        env |= {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")])),
            "TIEROCR_DATA_DIR": str(tmp_path_factory.mktemp("review-data")),
            "TIEROCR_SERVER_API_KEY": API_KEY,
            "TIEROCR_SERVER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
            "TIEROCR_VLM_URL": vlm.url,
            "TIEROCR_VLM_MODEL": "fake",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "tierocr.cli", "serve", "--port", str(port)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        # uvicorn says when it listens; reading its log is the event to wait for (no polling).
        listening = threading.Event()
        log: list[str] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                log.append(line)
                if "Uvicorn running on" in line:
                    listening.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not listening.wait(120):
                pytest.fail("tierocr serve did not start:\n" + "".join(log[-40:]))
            yield Served(f"http://127.0.0.1:{port}", API_KEY, MAX_UPLOAD, vlm)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    if executable is None:
        pytest.skip("no chromium on PATH: `make system-deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()
