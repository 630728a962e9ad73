"""Shared by the review page's tests: where the served app is, and the limits it was started with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "src" / "tierocr" / "samples" / "sample.pdf"
API_KEY = "review-test-key"
#: Small, so an oversize file is cheap to make; the sample PDF is far below it.
MAX_UPLOAD = 1024 * 1024
CHROMIUM_NAMES = ("chromium", "chromium-browser")


@dataclass
class Served:
    url: str
    key: str
    max_upload: int
    vlm: Any  # the FakeVlm the server escalates to

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=300)
