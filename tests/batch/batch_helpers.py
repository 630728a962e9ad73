"""Shared by the batch tests: small generated PDFs, the CLI in a subprocess with a clean environment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

REPO = Path(__file__).resolve().parents[2]


def write_pdf(path: Path, pages: int, title: str) -> Path:
    """A born-digital PDF whose pages say which document and page they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = [[f"{title}, page {n}.", PARAGRAPHS[n % len(PARAGRAPHS)]] for n in range(1, pages + 1)]
    path.write_bytes(text_pdf(body, title=title))
    return path


def write_poisoned_pdf(path: Path, pages: int, poisoned: int) -> Path:
    """A PDF whose page ``poisoned`` is a 40-inch square: over a small ``max_image_pixels`` it can never
    be rendered, the way a corrupt or monstrous page fails on every try."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=letter)
    for n in range(1, pages + 1):
        if n == poisoned:
            c.setPageSize((2880, 2880))
        else:
            c.setPageSize(letter)
        c.setFont("Helvetica", 12)
        c.drawString(72, 700, f"Poisoned document, page {n}. {PARAGRAPHS[0][:60]}")
        c.showPage()
    c.save()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without the developer's TIEROCR_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["TIEROCR_OCR_FIX_ROTATION"] = "false"
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tierocr.cli", *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=timeout,
        check=False,
    )
